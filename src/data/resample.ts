import { simdReduceColumns, simdReduceRows } from './reduce-simd.js';

// sharp's resize with the kernels a preprocess.json may name (lanczos3, the default; cubic; linear) in plain
// TypeScript, for the browser entry (the canvas's own scaler differs enough to move an ambiguous face by
// several years), and for the crop fast path (src/data/crops/fast-path.ts) and predict's face crops in
// Node, which must give sharp's pixels.
//
// Shrinking is libvips 8.18's vips_resize exactly (reducev, then reduceh, each rounding to bytes): per
// axis, a kernel widened by the factor, its weights tabulated at 1/64-pixel phases in 12-bit fixed point,
// summed in integers; test/data-resample.test.ts checks it gives sharp's bytes. Enlarging is libvips's
// bicubic (Catmull-Rom) interpolator, sampling input x = o * scale - 0.5, in floating point, rounding to
// bytes between the passes: within 0.3 grey levels of sharp on average.

interface Taps {
  first: number;
  weights: Float32Array;
}

/** The kernels a bundle's preprocess.json may name (resize.kernel). */
export type ResizeKernel = 'lanczos3' | 'cubic' | 'linear';

/** libvips's reduce kernels, as templates.h writes them (the exact floating-point steps matter). */
function vipsFilter(name: ResizeKernel): (x: number) => number {
  const sinc = (x: number) => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));
  if (name === 'lanczos3') return (x) => (x >= -3 && x <= 3 ? sinc(x) * sinc(x / 3) : 0);
  if (name === 'linear') return (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0);
  // Catmull-Rom: cubic_filter(x, B = 0, C = 0.5).
  return (x) => {
    const ax = Math.abs(x);
    const ax2 = ax * ax;
    const ax3 = ax2 * ax;
    if (ax <= 1) return ((12 - 3) * ax3 + (-18 + 3) * ax2 + 6) / 6;
    if (ax <= 2) return (-3 * ax3 + 15 * ax2 - 24 * ax + 12) / 6;
    return 0;
  };
}

/** Each kernel with its half-width (the floating-point path's taps). */
const KERNELS: Record<ResizeKernel, { fn: (x: number) => number; support: number }> = {
  lanczos3: { fn: vipsFilter('lanczos3'), support: 3 },
  cubic: { fn: vipsFilter('cubic'), support: 2 },
  linear: { fn: vipsFilter('linear'), support: 1 },
};

/** For each output index: the first input index and the normalised weights. */
function taps(inSize: number, outSize: number, name: ResizeKernel): Taps[] {
  const scale = inSize / outSize;
  const enlarge = outSize > inSize;
  // Shrinking: the kernel widened by the factor; enlarging: libvips's interpolator (bilinear for 'linear',
  // else bicubic = Catmull-Rom), unwidened.
  const k = enlarge ? (name === 'linear' ? KERNELS.linear : KERNELS.cubic) : KERNELS[name];
  const support = k.support * (enlarge ? 1 : Math.max(1, scale));
  const stretch = enlarge ? 1 : Math.max(1, scale);
  const kernel = k.fn;
  const out: Taps[] = [];
  for (let o = 0; o < outSize; o++) {
    const centre = enlarge ? o * scale - 0.5 : (o + 0.5) * scale - 0.5;
    const first = Math.floor(centre - support) + 1;
    const last = Math.ceil(centre + support) - 1;
    const weights = new Float32Array(last - first + 1);
    let total = 0;
    for (let i = first; i <= last; i++) {
      const w = kernel((i - centre) / stretch);
      weights[i - first] = w;
      total += w;
    }
    for (let k = 0; k < weights.length; k++) weights[k]! /= total;
    out.push({ first, weights });
  }
  return out;
}

/** Separable resize of HWC RGB (inW x inH) to outW x outH, as sharp's with `kernel`; edges are clamped. */
export function lanczosResize(
  rgb: Uint8Array,
  inW: number,
  inH: number,
  outW: number,
  outH: number,
  kernel: ResizeKernel = 'lanczos3',
): Uint8Array {
  return exactShrink(rgb, inW, inH, outW, outH, kernel) ?? floatResize(rgb, inW, inH, outW, outH, kernel);
}

/**
 * sharp's resize to outW x outH with fit 'fill' when it shrinks (or keeps) both axes and this port gives
 * its very bytes; null otherwise (an enlargement, a shrink libvips box-filters first).
 */
export function exactShrink(
  rgb: Uint8Array,
  inW: number,
  inH: number,
  outW: number,
  outH: number,
  kernel: ResizeKernel = 'lanczos3',
): Uint8Array | null {
  if (outW > inW || outH > inH) return null;
  // Each axis shrunk by in / out, handed to libvips as a scale and back.
  const shrunk = vipsShrink(rgb, inW, inH, 1 / (1 / (inW / outW)), 1 / (1 / (inH / outH)), kernel);
  return shrunk && shrunk.width === outW && shrunk.height === outH ? shrunk.data : null;
}

/** For one axis: each output's first input index (edges clamped) and 12-bit weights, n per output. */
interface AxisPlan {
  out: number;
  n: number;
  index: Int32Array; // out * n input indices, already clamped to the image
  weight: Int32Array; // out * n fixed-point weights
}

const plans = new Map<string, AxisPlan | null>();

/**
 * vips_reduceh / vips_reducev's plan for shrinking `inSize` by `shrink` (>= 1), or null where libvips
 * would first box-shrink by an integer (a reduction of 4x or more after the JPEG's own scaling), which
 * this port leaves to sharp.
 */
function axisPlan(inSize: number, shrink: number, kernel: ResizeKernel): AxisPlan | null {
  const key = `${inSize} ${shrink} ${kernel}`;
  if (plans.has(key)) return plans.get(key)!;
  const out = Math.floor(inSize / shrink + 0.5);
  let plan: AxisPlan | null = null;
  // vips_resize passes gap 2: libvips box-shrinks first when in / out >= 4.
  if (out > 0 && Math.max(1, Math.floor(inSize / out / 2)) === 1) {
    const extra = out * shrink - inSize;
    // rint: round half to even, as C's.
    const points = roundHalfEven(
      kernel === 'lanczos3' ? 3 * shrink : kernel === 'cubic' ? 2 * shrink : shrink,
    );
    const nPoint = 2 * points + 1;
    const offset = (1 + extra) / 2 - 1;
    const pad = Math.ceil(nPoint / 2) - 1; // libvips embeds the image by this much, edges copied
    const filter = vipsFilter(kernel);
    const tables: Int32Array[] = [];
    for (let t = 0; t <= 64; t++) {
      const half = t / 64 + nPoint / 2 - 1;
      const c = new Float64Array(nPoint);
      let sum = 0;
      for (let i = 0; i < nPoint; i++) {
        c[i] = filter((i - half) / shrink);
        sum += c[i]!;
      }
      tables.push(Int32Array.from(c, (v) => Math.trunc((v / sum) * 4096)));
    }
    const index = new Int32Array(out * nPoint);
    const weight = new Int32Array(out * nPoint);
    // The sample position steps by the factor from the first output, as libvips's loop adds it.
    let X = 0.5 * shrink - 0.5 - offset;
    for (let o = 0; o < out; o++, X += shrink) {
      const ix = Math.trunc(X);
      const tx = (((Math.trunc(X * 128) & 127) + 1) >> 1) as number;
      for (let i = 0; i < nPoint; i++) {
        index[o * nPoint + i] = Math.min(inSize - 1, Math.max(0, ix + i - pad));
        weight[o * nPoint + i] = tables[tx]![i]!;
      }
    }
    plan = { out, n: nPoint, index, weight };
  }
  if (plans.size >= 512) plans.clear(); // region crops bring a new side each: keep the cache bounded
  plans.set(key, plan);
  return plan;
}

/** Whether vipsShrink reproduces libvips shrinking `inSize` pixels by `shrink` (1: left alone). */
export function shrinksExactly(inSize: number, shrink: number, kernel: ResizeKernel = 'lanczos3'): boolean {
  return shrink === 1 || (shrink > 1 && axisPlan(inSize, shrink, kernel) !== null);
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * sharp's shrink by `hshrink` x `vshrink` (each >= 1; 1 leaves the axis alone): libvips's reducev, then
 * reduceh, each summing 12-bit weights with a rounding half and clipping to a byte. Null where libvips
 * would take a path this port does not reproduce (see axisPlan).
 */
export function vipsShrink(
  rgb: Uint8Array,
  inW: number,
  inH: number,
  hshrink: number,
  vshrink: number,
  kernel: ResizeKernel = 'lanczos3',
): { data: Uint8Array; width: number; height: number } | null {
  if (hshrink < 1 || vshrink < 1) return null;
  const pv = vshrink > 1 ? axisPlan(inH, vshrink, kernel) : null;
  const ph = hshrink > 1 ? axisPlan(inW, hshrink, kernel) : null;
  if ((vshrink > 1 && !pv) || (hshrink > 1 && !ph)) return null;
  let data = rgb;
  let height = inH;
  if (pv) {
    data = reduceRows(data, inW * 3, pv);
    height = pv.out;
  }
  let width = inW;
  if (ph) {
    data = reduceColumns(data, inW, height, ph);
    width = ph.out;
  }
  return { data, width, height };
}

// The two passes, written for speed: one accumulator row (vertical) or pixel (horizontal), integer
// maths, and a Uint8ClampedArray view to clip to bytes (its values are already integers, so it only clips).

function reduceRows(data: Uint8Array, rowBytes: number, plan: AxisPlan): Uint8Array {
  const { out, n, index, weight } = plan;
  const fast = simdReduceRows(
    data,
    rowBytes,
    out,
    n,
    index.map((i) => i * rowBytes),
    weight,
  );
  if (fast) return fast;
  const next = new Uint8Array(out * rowBytes);
  const clipped = new Uint8ClampedArray(next.buffer);
  const acc = new Int32Array(rowBytes);
  for (let o = 0; o < out; o++) {
    acc.fill(2048); // a half, for rounding
    for (let i = o * n; i < (o + 1) * n; i++) {
      const w = weight[i]!;
      if (w === 0) continue;
      const src = index[i]! * rowBytes;
      for (let x = 0; x < rowBytes; x++) acc[x]! += data[src + x]! * w;
    }
    const dst = o * rowBytes;
    for (let x = 0; x < rowBytes; x++) clipped[dst + x] = acc[x]! >> 12;
  }
  return next;
}

function reduceColumns(data: Uint8Array, inW: number, height: number, plan: AxisPlan): Uint8Array {
  const { out, n, index, weight } = plan;
  const fast = simdReduceColumns(
    data,
    inW,
    height,
    out,
    n,
    index.map((i) => i * 3),
    weight,
  );
  if (fast) return fast;
  const next = new Uint8Array(height * out * 3);
  const clipped = new Uint8ClampedArray(next.buffer);
  let dst = 0;
  for (let y = 0; y < height; y++) {
    const row = y * inW * 3;
    for (let o = 0; o < out; o++) {
      let r = 2048;
      let g = 2048;
      let b = 2048;
      for (let i = o * n; i < (o + 1) * n; i++) {
        const src = row + index[i]! * 3;
        const w = weight[i]!;
        r += data[src]! * w;
        g += data[src + 1]! * w;
        b += data[src + 2]! * w;
      }
      clipped[dst++] = r >> 12;
      clipped[dst++] = g >> 12;
      clipped[dst++] = b >> 12;
    }
  }
  return next;
}

/** The floating-point resize, for enlargements (libvips's interpolators, approximated). */
function floatResize(
  rgb: Uint8Array,
  inW: number,
  inH: number,
  outW: number,
  outH: number,
  kernel: ResizeKernel = 'lanczos3',
): Uint8Array {
  const tx = taps(inW, outW, kernel);
  const ty = taps(inH, outH, kernel);
  const clamp = (i: number, n: number) => Math.min(n - 1, Math.max(0, i));
  const rows = new Float32Array(inH * outW * 3); // horizontal pass: inH rows x outW columns
  const roundRows = outW > inW; // libvips's enlargement keeps bytes between the passes
  for (let y = 0; y < inH; y++) {
    for (let x = 0; x < outW; x++) {
      const { first, weights } = tx[x]!;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < weights.length; k++) {
        const src = (y * inW + clamp(first + k, inW)) * 3;
        const w = weights[k]!;
        r += w * rgb[src]!;
        g += w * rgb[src + 1]!;
        b += w * rgb[src + 2]!;
      }
      const dst = (y * outW + x) * 3;
      rows[dst] = roundRows ? clampByte(r) : r;
      rows[dst + 1] = roundRows ? clampByte(g) : g;
      rows[dst + 2] = roundRows ? clampByte(b) : b;
    }
  }
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    const { first, weights } = ty[y]!;
    for (let x = 0; x < outW; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < weights.length; k++) {
        const src = (clamp(first + k, inH) * outW + x) * 3;
        const w = weights[k]!;
        r += w * rows[src]!;
        g += w * rows[src + 1]!;
        b += w * rows[src + 2]!;
      }
      const dst = (y * outW + x) * 3;
      out[dst] = clampByte(r);
      out[dst + 1] = clampByte(g);
      out[dst + 2] = clampByte(b);
    }
  }
  return out;
}

function clampByte(v: number): number {
  return Math.min(255, Math.max(0, Math.round(v)));
}
