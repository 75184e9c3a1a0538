import type * as tfTypes from '@tensorflow/tfjs';
import { release, runConfig, transpose } from './kernel-call.js';

/**
 * BatchMatMul with a transposed operand, replacing the wasm backend's own handling: only untransposed
 * operands take XNNPACK's fast path; a transposed one falls to a scalar loop (measured 10-40x slower:
 * the dense layer's weight gradient x^T.dy dominated a training step).
 *
 * We run the fast path on explicitly transposed operands, choosing among the algebraically equal
 * forms the one that transposes the fewest elements, since the wasm Transpose is itself slow on large
 * matrices (a 8192x1024 transpose costs ~15x a copy):
 *   a.b^T = (b.a^T)^T     a^T.b = (b^T.a)^T     a^T.b^T = (b.a)^T
 * e.g. a dense layer's input gradient dy.W^T becomes (W.dy^T)^T, transposing two batch-sized
 * matrices instead of the 8M-element weight.
 */
export function makeBatchMatMulConfig(original: tfTypes.KernelConfig): tfTypes.KernelConfig {
  return {
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { a, b } = inputs as { a: tfTypes.TensorInfo; b: tfTypes.TensorInfo };
      const { transposeA, transposeB } = attrs as unknown as tfTypes.BatchMatMulAttrs;
      if (!transposeA && !transposeB) return original.kernelFunc(args);
      const size = (t: tfTypes.TensorInfo) => t.shape.reduce((p, d) => p * d, 1);
      const outRows = a.shape[a.shape.length - (transposeA ? 1 : 2)]!;
      const outCols = b.shape[b.shape.length - (transposeB ? 2 : 1)]!;
      const outBatch = Math.max(
        size(a) / (a.shape.at(-1)! * a.shape.at(-2)!),
        size(b) / (b.shape.at(-1)! * b.shape.at(-2)!),
      );
      const outSize = outBatch * outRows * outCols;
      // Elements transposed by the direct form (transpose the flagged operands) and by the swapped
      // form (compute the transposed product from the other operands, then transpose the result).
      const direct = (transposeA ? size(a) : 0) + (transposeB ? size(b) : 0);
      const swapped = (transposeA ? 0 : size(a)) + (transposeB ? 0 : size(b)) + outSize;
      const mm = (x: tfTypes.TensorInfo, y: tfTypes.TensorInfo) =>
        runConfig(original, backend, { a: x, b: y }, { transposeA: false, transposeB: false });
      if (direct <= swapped) {
        const at = transposeA ? swapLast(backend, a) : a;
        const bt = transposeB ? swapLast(backend, b) : b;
        const out = mm(at, bt);
        if (at !== a) release(backend, at);
        if (bt !== b) release(backend, bt);
        return out;
      }
      // out^T = op(b)^T . op(a)^T, where op(b)^T is b itself when transposeB, else b^T.
      const left = transposeB ? b : swapLast(backend, b);
      const right = transposeA ? a : swapLast(backend, a);
      const outT = mm(left, right);
      const out = swapLast(backend, outT);
      if (left !== b) release(backend, left);
      if (right !== a) release(backend, right);
      release(backend, outT);
      return out;
    },
  };
}

function swapLast(backend: object, t: tfTypes.TensorInfo): tfTypes.TensorInfo {
  const r = t.shape.length;
  const perm = [...Array(r).keys()].map((i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i));
  return transpose(backend, t, perm);
}
