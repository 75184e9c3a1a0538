import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import type { HeapBackend } from './kernel-call.js';

/**
 * MaxPoolGrad, replacing the wasm backend's own (a scalar C++ loop measured at ~30 ms per call on
 * the seed network's pools, 15% of a training step). One pass in JS: for each output cell, the first
 * maximum of its window (row-major, as the cpu backend picks it) receives the cell's gradient. The
 * channel loop is innermost, so every read of x and dy is sequential.
 */
export const maxPoolGradConfig: tfTypes.KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, input } = inputs as { dy: tfTypes.TensorInfo; input: tfTypes.TensorInfo };
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tfTypes.MaxPoolGradAttrs;
    const info = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      filterSize,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const heap = backend as HeapBackend;
    if (
      info.filterHeight === 2 &&
      info.filterWidth === 2 &&
      info.strideHeight === 2 &&
      info.strideWidth === 2 &&
      info.padInfo.top === 0 &&
      info.padInfo.left === 0
    ) {
      return pool2x2Grad(heap, input, dy, info);
    }
    const dx = heap.makeOutput(input.shape.slice(), 'float32');
    // Views only after the allocation above (a heap growth detaches older ones).
    const out = heap.typedArrayFromHeap(dx);
    out.fill(0);
    return generalGrad(heap, heap.typedArrayFromHeap(input), heap.typedArrayFromHeap(dy), out, dx, info);
  },
};

/**
 * The common 2x2, stride-2 pool with no leading padding: windows tile the input, so each input cell
 * is written exactly once (its gradient or 0) and no zero-fill pass is needed except for a trailing
 * odd row or column no window covers.
 */
function pool2x2Grad(
  heap: HeapBackend,
  input: tfTypes.TensorInfo,
  dy: tfTypes.TensorInfo,
  info: tfTypes.backend_util.Conv2DInfo,
): tfTypes.TensorInfo {
  const dx = heap.makeOutput(input.shape.slice(), 'float32');
  const x = heap.typedArrayFromHeap(input);
  const g = heap.typedArrayFromHeap(dy);
  const out = heap.typedArrayFromHeap(dx);
  const { batchSize, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  // 'same' padding on an odd side pads only at the end: the last window is then one cell short.
  const fullRows = Math.min(oh, h >> 1);
  const fullCols = Math.min(ow, w >> 1);
  if (fullRows * 2 !== h || fullCols * 2 !== w || fullRows !== oh || fullCols !== ow) {
    out.fill(0);
    return generalGrad(heap, x, g, out, dx, info);
  }
  const row = w * c;
  let gi = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let r = 0; r < oh; r++) {
      let p00 = (b * h + 2 * r) * row;
      for (let q = 0; q < ow; q++, p00 += 2 * c) {
        const p01 = p00 + c;
        const p10 = p00 + row;
        const p11 = p10 + c;
        for (let k = 0; k < c; k++, gi++) {
          const a = x[p00 + k]!;
          const bb = x[p01 + k]!;
          const cc = x[p10 + k]!;
          const d = x[p11 + k]!;
          const v = g[gi]!;
          // First maximum in row-major order wins; strict comparisons from -Infinity, as the cpu
          // backend (NaN never wins).
          let m = -Infinity;
          let at = -1;
          if (a > m) {
            m = a;
            at = 0;
          }
          if (bb > m) {
            m = bb;
            at = 1;
          }
          if (cc > m) {
            m = cc;
            at = 2;
          }
          if (d > m) at = 3;
          out[p00 + k] = at === 0 ? v : 0;
          out[p01 + k] = at === 1 ? v : 0;
          out[p10 + k] = at === 2 ? v : 0;
          out[p11 + k] = at === 3 ? v : 0;
        }
      }
    }
  }
  return dx;
}

/** Any pool geometry: per output cell, scatter its gradient to its window's first maximum. */
function generalGrad(
  heap: HeapBackend,
  x: Float32Array,
  g: Float32Array,
  out: Float32Array,
  dx: tfTypes.TensorInfo,
  info: tfTypes.backend_util.Conv2DInfo,
): tfTypes.TensorInfo {
  void heap;
  const { batchSize, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  const best = new Float32Array(c);
  const where = new Int32Array(c);
  let gi = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let r = 0; r < oh; r++) {
      const r0 = r * sh - top;
      const rLo = Math.max(0, r0);
      const rHi = Math.min(h, r0 + kh);
      for (let q = 0; q < ow; q++) {
        const q0 = q * sw - left;
        const qLo = Math.max(0, q0);
        const qHi = Math.min(w, q0 + kw);
        best.fill(-Infinity);
        where.fill(-1);
        for (let i = rLo; i < rHi; i++) {
          for (let j = qLo; j < qHi; j++) {
            const base = ((b * h + i) * w + j) * c;
            for (let k = 0; k < c; k++) {
              const v = x[base + k]!;
              if (v > best[k]!) {
                best[k] = v;
                where[k] = base + k;
              }
            }
          }
        }
        for (let k = 0; k < c; k++, gi++) {
          const at = where[k]!;
          if (at >= 0) out[at] = out[at]! + g[gi]!;
        }
      }
    }
  }
  return dx;
}
