/**
 * float32 -> IEEE 754 half precision, rounding to nearest even, as tfjs's weight loader reads it back
 * (`quantization: { dtype: 'float16' }` in a weights manifest). Halving a bundle's weights changes a
 * weight by at most 1 part in 2,048 of its magnitude, far under what training noise moves them.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf, NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // too large: Inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its hidden bit in, round to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and to Inf past the largest half).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toFloat16Bits(values[i]!);
  return out;
}

/**
 * Every half's float32 value, indexed by its bits (256 KB, made on first use). Decoding a cached feature
 * is then one table read: training streams ~150,000 of them a step, which the arithmetic decoding
 * (a power of two and a division per value) made a measurable part of the step.
 */
let halfTable: Float32Array | null = null;

function halves(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(0x10000);
  for (let h = 0; h < 0x10000; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    halfTable[h] =
      exp === 0
        ? sign * mant * 2 ** -24
        : exp === 0x1f
          ? mant
            ? NaN
            : sign * Infinity
          : sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return halfTable;
}

/** IEEE 754 half precision bits -> float32 (exact: every half is a float32). */
export function fromFloat16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  fromFloat16Into(bits, out, 0);
  return out;
}

/** Decodes `bits` into `out` from `offset` on (no allocation: a batch is assembled row by row). */
export function fromFloat16Into(bits: Uint16Array, out: Float32Array, offset: number): void {
  const table = halves();
  for (let i = 0; i < bits.length; i++) out[offset + i] = table[bits[i]!]!;
}

/**
 * The same decoding by bit operations, no table: for one pass over a model's weights at load, where
 * building the table (~20 ms) would cost more than it saves. A normal half is its float32 with the
 * exponent rebased; zeros likewise; subnormals, infinities and NaNs (rare in weights) by arithmetic.
 */
export function fromFloat16BitsInto(bits: Uint16Array, out: Float32Array): void {
  const words = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const e = h & 0x7c00;
    const sign = (h & 0x8000) << 16;
    if (e !== 0 && e !== 0x7c00) words[i] = sign | ((e + 0x1c000) << 13) | ((h & 0x3ff) << 13);
    else if ((h & 0x7fff) === 0) words[i] = sign;
    else out[i] = (sign ? -1 : 1) * (e ? (h & 0x3ff ? NaN : Infinity) : (h & 0x3ff) * 2 ** -24);
  }
}
