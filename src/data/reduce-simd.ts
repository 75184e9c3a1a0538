/**
 * libvips's vertical reduce (resample.ts reduceRows: 12-bit weights, a rounding half, >> 12, clipped to a
 * byte) as a tiny WebAssembly function, eight bytes of a row per 128-bit instruction. Why: as a JS loop
 * the crop's shrink took ~0.45 ms an image, most of the fast path's time; here ~0.09 ms. The same
 * integer maths, so the same bytes. A second function does the horizontal pass, one RGB pixel per sum.
 *
 * The module is assembled here byte by byte (util/wasm-bytes.ts), like engine/adam-simd.ts.
 */

import { I32, V128, get, leb, section, set, simd, str, vec } from '../util/wasm-bytes.js';

// Parameters (i32): 0 src, 1 dst, 2 rowBytes, 3 rows out, 4 taps per row, 5 offsets, 6 weights.
// Locals: 7 o, 8 x, 9 tap pointer (offsets), 10 tap end, 11 weight pointer, 12 row out address (i32);
// 13 low sums, 14 high sums, 15 the tap's weight splatted, 16 the eight source bytes widened (v128).
const [SRC, DST, ROW, OUT, N, OFF, W] = [0, 1, 2, 3, 4, 5, 6];
const [O, X, P, E, Q, D] = [7, 8, 9, 10, 11, 12];
const [LO, HI, WV, PIX] = [13, 14, 15, 16];

const i32 = (v: number) => [0x41, ...leb(v)]; // small non-negative constants only
const add = 0x6a;
const mul = 0x6c;
const load32 = [0x28, 0x02, 0x00];
const load8x8u = [...simd(0x02), 0x00, 0x00];
const store64lane = [...simd(0x5b), 0x00, 0x00, 0x00];
const [splat16, splat32] = [simd(0x10), simd(0x11)];
const [extmulLo, extmulHi, add32, shr32] = [simd(0xbc), simd(0xbd), simd(0xae), simd(0xac)];
const [narrow32to16s, narrow16to8u] = [simd(0x85), simd(0x66)];

// prettier-ignore
const body = [
  0x02, 0x40, 0x03, 0x40, // block, loop (rows)
  ...get(O), ...get(OUT), 0x4f, 0x0d, 0x01, // o >= rows out: done
  ...get(O), ...get(ROW), mul, ...get(DST), add, ...set(D),
  ...get(O), ...get(N), mul, ...i32(4), mul, ...set(P), // first tap of row o, in bytes
  ...get(P), ...get(N), ...i32(4), mul, add, ...get(OFF), add, ...set(E),
  ...get(P), ...get(W), add, ...set(Q),
  ...get(P), ...get(OFF), add, ...set(P),
  ...i32(0), ...set(X),
  0x03, 0x40, // loop (eight bytes at a time)
  ...i32(2048), ...splat32, ...set(LO), ...i32(2048), ...splat32, ...set(HI),
  0x03, 0x40, // loop (taps)
  ...get(P), ...load32, ...get(SRC), add, ...get(X), add, ...load8x8u, ...set(PIX),
  ...get(Q), ...load32, ...splat16, ...set(WV),
  ...get(LO), ...get(PIX), ...get(WV), ...extmulLo, ...add32, ...set(LO),
  ...get(HI), ...get(PIX), ...get(WV), ...extmulHi, ...add32, ...set(HI),
  ...get(Q), ...i32(4), add, ...set(Q),
  ...get(P), ...i32(4), add, ...set(P),
  ...get(P), ...get(E), 0x49, 0x0d, 0x00, // p < end: next tap
  0x0b,
  // rewind the tap pointers for the next eight bytes
  ...get(P), ...get(N), ...i32(4), mul, 0x6b, ...set(P),
  ...get(Q), ...get(N), ...i32(4), mul, 0x6b, ...set(Q),
  ...get(D), ...get(X), add,
  ...get(LO), ...i32(12), ...shr32, ...get(HI), ...i32(12), ...shr32, ...narrow32to16s,
  0xfd, 0x0c, ...Array(16).fill(0), ...narrow16to8u, // with zeros: only the low eight bytes are kept
  ...store64lane,
  ...get(X), ...i32(8), add, ...set(X),
  ...get(X), ...get(ROW), 0x49, 0x0d, 0x00, // x < rowBytes: next eight
  0x0b,
  ...get(O), ...i32(1), add, ...set(O),
  0x0c, 0x00, // next row
  0x0b, 0x0b, 0x0b,
];

// The horizontal pass, one RGB pixel per 128-bit sum (the fourth lane is spare). Parameters (i32): 0 src,
// 1 dst, 2 source row bytes, 3 rows, 4 pixels out per row, 5 taps per pixel, 6 offsets (tap pixel x 3),
// 7 weights. Locals: 8 y, 9 o, 10 tap pointer, 11 tap end, 12 weight pointer, 13 out address, 14 source
// row (i32); 15 sums (v128).
const [HSRC, HDST, HROW, HROWS, HOUT, HN, HOFF, HW] = [0, 1, 2, 3, 4, 5, 6, 7];
const [Y, HO, HP, HE, HQ, HD, HR, ACC] = [8, 9, 10, 11, 12, 13, 14, 15];
const load32zero = [...simd(0x5c), 0x00, 0x00];
const [widen8to16u, widen16to32u, mul32] = [simd(0x89), simd(0xa9), simd(0xb5)];
const store16lane = (lane: number) => [...simd(0x59), 0x00, 0x00, lane];
const store8lane = (lane: number) => [...simd(0x58), 0x00, 0x00, lane];

// prettier-ignore
const hbody = [
  ...get(HDST), ...set(HD),
  0x02, 0x40, 0x03, 0x40, // block, loop (rows)
  ...get(Y), ...get(HROWS), 0x4f, 0x0d, 0x01, // y >= rows: done
  ...get(Y), ...get(HROW), mul, ...get(HSRC), add, ...set(HR),
  ...i32(0), ...set(HO),
  0x03, 0x40, // loop (output pixels)
  ...i32(2048), ...splat32, ...set(ACC),
  ...get(HO), ...get(HN), mul, ...i32(4), mul, ...set(HE),
  ...get(HE), ...get(HOFF), add, ...set(HP),
  ...get(HE), ...get(HW), add, ...set(HQ),
  ...get(HP), ...get(HN), ...i32(4), mul, add, ...set(HE),
  0x03, 0x40, // loop (taps)
  ...get(ACC),
  ...get(HP), ...load32, ...get(HR), add, ...load32zero, ...widen8to16u, ...widen16to32u,
  ...get(HQ), ...load32, ...splat32, ...mul32, ...add32, ...set(ACC),
  ...get(HQ), ...i32(4), add, ...set(HQ),
  ...get(HP), ...i32(4), add, ...set(HP),
  ...get(HP), ...get(HE), 0x49, 0x0d, 0x00, // p < end: next tap
  0x0b,
  ...get(ACC), ...i32(12), ...shr32, ...get(ACC), ...i32(12), ...shr32, ...narrow32to16s,
  0xfd, 0x0c, ...Array(16).fill(0), ...narrow16to8u, ...set(ACC),
  ...get(HD), ...get(ACC), ...store16lane(0),
  ...get(HD), ...i32(2), add, ...get(ACC), ...store8lane(2),
  ...get(HD), ...i32(3), add, ...set(HD),
  ...get(HO), ...i32(1), add, ...set(HO),
  ...get(HO), ...get(HOUT), 0x49, 0x0d, 0x00, // o < out: next pixel
  0x0b,
  ...get(Y), ...i32(1), add, ...set(Y),
  0x0c, 0x00, // next row
  0x0b, 0x0b, 0x0b,
];

const code = (locals: number[][], body: number[]) => {
  const bytes = [...vec(locals), ...body];
  return [...leb(bytes.length), ...bytes];
};

// prettier-ignore
const moduleBytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, vec([
    [0x60, ...vec(Array(7).fill([I32])), 0x00],
    [0x60, ...vec(Array(8).fill([I32])), 0x00],
  ])),
  ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, ...leb(1)]])),
  ...section(3, vec([[0x00], [0x01]])),
  ...section(7, vec([[...str('rows'), 0x00, 0x00], [...str('columns'), 0x00, 0x01]])),
  ...section(10, vec([code([[6, I32], [4, V128]], body), code([[7, I32], [1, V128]], hbody)])),
]);

type Fn = (...args: number[]) => void;
let compiled: { rows: Fn; columns: Fn; memory: WebAssembly.Memory } | null | undefined;

function instance(): { rows: Fn; columns: Fn; memory: WebAssembly.Memory } | null {
  if (compiled !== undefined) return compiled;
  try {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes), { env: { memory } });
    compiled = { rows: inst.exports.rows as Fn, columns: inst.exports.columns as Fn, memory };
  } catch {
    compiled = null; // no wasm SIMD here: the JS loops run
  }
  return compiled;
}

/**
 * Copies the taps and `data` into the module's memory, runs `run(src, dst, tapsAt, weightsAt)` and
 * returns the `outBytes` it wrote. Eight bytes of slack after the source and the output: the vector
 * loads and stores may run past their last byte.
 */
function call(
  data: Uint8Array,
  outBytes: number,
  offsets: Int32Array,
  weights: Int32Array,
  run: (fn: { rows: Fn; columns: Fn }, src: number, dst: number, off: number, w: number) => void,
): Uint8Array | null {
  const wasm = instance();
  if (!wasm) return null;
  const tapBytes = offsets.length * 4;
  const srcAt = 2 * tapBytes;
  const dstAt = srcAt + data.length + 8;
  const need = dstAt + outBytes + 8;
  const have = wasm.memory.buffer.byteLength;
  if (need > have) wasm.memory.grow(Math.ceil((need - have) / 65536));
  const heap = new Uint8Array(wasm.memory.buffer);
  new Int32Array(wasm.memory.buffer, 0, offsets.length).set(offsets);
  new Int32Array(wasm.memory.buffer, tapBytes, weights.length).set(weights);
  heap.set(data, srcAt);
  run(wasm, srcAt, dstAt, 0, tapBytes);
  return heap.slice(dstAt, dstAt + outBytes);
}

/**
 * rows x rowBytes bytes reduced to `out` rows: row o = sum over its n taps of weight * source row, as
 * resample.ts's reduceRows. `rowOffsets` are the taps' source rows times rowBytes. Null without SIMD.
 */
export function simdReduceRows(
  data: Uint8Array,
  rowBytes: number,
  out: number,
  n: number,
  rowOffsets: Int32Array,
  weights: Int32Array,
): Uint8Array | null {
  return call(data, out * rowBytes, rowOffsets, weights, (f, src, dst, off, w) =>
    f.rows(src, dst, rowBytes, out, n, off, w),
  );
}

/**
 * Each of `height` rows of inW RGB pixels reduced to `out` pixels, as resample.ts's reduceColumns.
 * `pixelOffsets` are the taps' source pixels times 3. Null without SIMD.
 */
export function simdReduceColumns(
  data: Uint8Array,
  inW: number,
  height: number,
  out: number,
  n: number,
  pixelOffsets: Int32Array,
  weights: Int32Array,
): Uint8Array | null {
  return call(data, height * out * 3, pixelOffsets, weights, (f, src, dst, off, w) =>
    f.columns(src, dst, inW * 3, height, out, n, off, w),
  );
}
