import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import { MIN_ELEMENTWISE } from './elementwise-kernels.js';
import { type PoolGeometry, avgPoolGradPlan, maxPoolBackwardPlan, maxPoolForwardPlan } from './pool-plans.js';
import { type KernelFn, allF32, key, sizeOf, tensorAddress } from './run-plan.js';

/** oneDNN kernels for the gradients of max and average pooling (big NHWC tensors; pool-plans.ts). */

function geometry(x: tfTypes.TensorInfo, attrs: tfTypes.NamedAttrMap): PoolGeometry | null {
  if (x.shape.length !== 4 || sizeOf(x.shape) < MIN_ELEMENTWISE) return null;
  const a = attrs as unknown as tfTypes.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || info.outHeight <= 0 || info.outWidth <= 0)
    return null;
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    c: info.inChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
    oh: info.outHeight,
    ow: info.outWidth,
  };
}

export const maxPoolGrad: KernelFn = ({ inputs, backend, attrs }, s) => {
  const { dy, input } = inputs as Record<string, tfTypes.TensorInfo>;
  if (!dy || !input || !allF32(dy, input)) return null;
  const g = geometry(input, attrs);
  if (!g) return null;
  const forward = s.cache.get(key('maxpool-fwd', g), () => maxPoolForwardPlan(s.ctx, g));
  const backward = s.cache.get(key('maxpool-bwd', g), () => maxPoolBackwardPlan(s.ctx, g));
  const dx = backend.makeOutput(input.shape.slice(), 'float32');
  // Addresses after the allocation (it may move the heap).
  const at = (t: tfTypes.TensorInfo) => tensorAddress(s, backend, t);
  forward.run([at(input), 0, 0]);
  backward.run([at(dy), 0, at(dx)]);
  return dx;
};

/** Without padding only: tfjs's gradient divides by the whole window even where it overhangs. */
export const avgPoolGrad: KernelFn = ({ inputs, backend, attrs }, s) => {
  const { dy, input } = inputs as Record<string, tfTypes.TensorInfo>;
  if (!dy || !input || !allF32(dy, input)) return null;
  const g = geometry(input, attrs);
  if (!g || g.top !== 0 || g.left !== 0 || (g.oh - 1) * g.sh + g.kh > g.h || (g.ow - 1) * g.sw + g.kw > g.w)
    return null;
  const plan = s.cache.get(key('avgpool-bwd', g), () => avgPoolGradPlan(s.ctx, g));
  const dx = backend.makeOutput(input.shape.slice(), 'float32');
  const at = (t: tfTypes.TensorInfo) => tensorAddress(s, backend, t);
  plan.run([at(dy), at(dx)]);
  return dx;
};
