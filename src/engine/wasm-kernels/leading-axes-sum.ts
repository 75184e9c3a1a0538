import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import { type HeapBackend, release, reshape, run } from './kernel-call.js';

/**
 * Sum and Mean over every axis but the last (per-channel totals of an NHWC tensor), replacing the wasm
 * backend's own for that case. The wasm kernel first transposes the channels to the front: 22 ms a call on
 * a 64x75x75x16 tensor, where the same totals as a matrix product (a row of ones times the tensor seen as
 * rows x C) take a few. Batch norm in training reduced this way several times per layer and step until
 * engine/batchnorm-train.ts took it over; the bias gradients of conv and dense layers, and batch norm where
 * the layer's own code still runs (another axis), still do. Every other reduction goes to the wasm kernel.
 */
export function makeLeadingAxesReduceConfig(
  kernelName: 'Sum' | 'Mean',
  original: tfTypes.KernelConfig,
): tfTypes.KernelConfig {
  return {
    // The original's setupFunc stays: the wasm backend calls it at start-up to bind its C++ function.
    ...original,
    kernelName,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = args.inputs.x as tfTypes.TensorInfo;
      const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
      const rank = x.shape.length;
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
      const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
      if (!leading || x.dtype !== 'float32') return original.kernelFunc(args);
      const channels = x.shape[rank - 1]!;
      const rows = tf.util.sizeFromShape(x.shape) / channels;
      const backend = args.backend as HeapBackend;
      // ones[1 x rows] . x[rows x C] through the (XNNPACK) matrix product, scaled for a mean.
      const ones = backend.makeOutput([1, 1, rows], 'float32');
      backend.typedArrayFromHeap(ones).fill(kernelName === 'Mean' ? 1 / rows : 1);
      const x3 = reshape(backend, x, [1, rows, channels]);
      const sum = run(backend, 'BatchMatMul', { a: ones, b: x3 }, { transposeA: false, transposeB: false });
      const outShape = keepDims ? [...Array(rank - 1).fill(1), channels] : [channels];
      const out = reshape(backend, sum, outShape);
      release(backend, ones, x3, sum);
      return out;
    },
  };
}
