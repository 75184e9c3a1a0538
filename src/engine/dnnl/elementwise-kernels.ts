import type * as tfTypes from '@tensorflow/tfjs';
import {
  addPlan,
  batchNormPlan,
  batchNormTrainBackwardPlan,
  batchNormTrainForwardPlan,
  eltwisePlan,
  reluBackwardPlan,
} from './elementwise-plans.js';
import { onOneThread } from './plan.js';
import { type KernelFn, type KernelState, allF32, key, runPlainPlan, runPlan, sizeOf } from './run-plan.js';

/** oneDNN kernels for the memory-bound work between convolutions: activations, adds, batch norm (big tensors only). */

/**
 * Below this many values an element-wise kernel stays on wasm: a oneDNN call costs a few microseconds
 * of FFI and thread wake-up, more than wasm needs for a small tensor (a bias, a loss, the heads).
 */
export const MIN_ELEMENTWISE = 16384;

/** `fn` (builds the plan if new, then runs it) on one thread for a small tensor: plan.ts ONE_THREAD_BYTES. */
const sized = <T>(s: KernelState, count: number, fn: () => T): T => onOneThread(s.ctx.api, fn, count * 4);

/** An activation, f(x) element by element; `params` gives oneDNN's alpha and beta from the attributes. */
export function eltwise(alg: number, params: (attrs: tfTypes.NamedAttrMap) => [number, number]): KernelFn {
  return ({ inputs, backend, attrs }, s) => {
    const { x } = inputs as Record<string, tfTypes.TensorInfo>;
    if (!x || !allF32(x)) return null;
    const count = sizeOf(x.shape);
    if (count < MIN_ELEMENTWISE) return null;
    const [alpha, beta] = params(attrs);
    const k = key('eltwise', alg, alpha, beta, count);
    return sized(s, count, () => {
      const plan = s.cache.get(k, () => eltwisePlan(s.ctx, count, alg, alpha, beta));
      return runPlan(s, backend, plan, k, [x], x.shape);
    });
  };
}

/** ReLU's gradient (engine/relu-grad.ts): dx from x and dy. */
export const reluGrad: KernelFn = ({ inputs, backend }, s) => {
  const { dy, x } = inputs as Record<string, tfTypes.TensorInfo>;
  if (!dy || !x || !allF32(dy, x)) return null;
  const count = sizeOf(x.shape);
  if (count < MIN_ELEMENTWISE || sizeOf(dy.shape) !== count) return null;
  const k = key('relu-grad', count);
  return sized(s, count, () => {
    const plan = s.cache.get(k, () => reluBackwardPlan(s.ctx, count));
    return runPlan(s, backend, plan, k, [x, dy], x.shape);
  });
};

/**
 * a + b when both have the output's shape (a residual) or one is a vector over the last axis (a bias);
 * other broadcasts stay on wasm.
 */
export const add: KernelFn = ({ inputs, backend }, s) => {
  const { a, b } = inputs as Record<string, tfTypes.TensorInfo>;
  if (!a || !b || !allF32(a, b)) return null;
  const count = sizeOf(a.shape);
  if (Math.max(count, sizeOf(b.shape)) < MIN_ELEMENTWISE) return null;
  const same = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
  // Addition commutes: the full operand goes first, the bias second.
  const [full, other] = count >= sizeOf(b.shape) ? [a, b] : [b, a];
  const cols = full.shape.at(-1) ?? 1;
  const bias =
    !same &&
    full.shape.length >= 1 &&
    other.shape.length <= full.shape.length &&
    sizeOf(other.shape) === cols &&
    (other.shape.at(-1) ?? 1) === cols;
  if (!same && !bias) return null;
  const rows = sizeOf(full.shape) / cols;
  const k = key('add', rows, cols, bias);
  return sized(s, rows * cols, () => {
    const plan = s.cache.get(k, () => addPlan(s.ctx, rows, cols, bias));
    return runPlan(s, backend, plan, k, [full, other], full.shape);
  });
};

/** Batch norm of an NHWC tensor with given statistics (inference, and training's batch moments). */
export const batchNorm: KernelFn = ({ inputs, backend, attrs }, s) => {
  const { x, mean, variance, offset, scale } = inputs as Record<string, tfTypes.TensorInfo | undefined>;
  if (!x || !mean || !variance || !allF32(x, mean, variance, offset, scale)) return null;
  if (x.shape.length !== 4 || sizeOf(x.shape) < MIN_ELEMENTWISE) return null;
  const [n, h, w, c] = x.shape as [number, number, number, number];
  // Per-channel vectors only ([c], or [1, 1, 1, c]); any other broadcast goes to wasm.
  const perChannel = (t: tfTypes.TensorInfo | undefined) =>
    !t || (sizeOf(t.shape) === c && t.shape.at(-1) === c);
  if (![mean, variance, offset, scale].every(perChannel)) return null;
  const epsilon = (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
  const g = { n, h, w, c };
  const k = key('batchnorm', g, epsilon, !!scale, !!offset);
  const args = [x, mean, variance, ...(scale ? [scale] : []), ...(offset ? [offset] : [])];
  return sized(s, sizeOf(x.shape), () => {
    const plan = s.cache.get(k, () => batchNormPlan(s.ctx, g, epsilon, !!scale, !!offset));
    return runPlan(s, backend, plan, k, args, x.shape);
  });
};

/** The NHWC geometry of a training batch norm's input oneDNN takes (4-D, big enough), or null. */
function bnTrainGeometry(x: tfTypes.TensorInfo | undefined, c: number) {
  if (!x || x.shape.length !== 4 || sizeOf(x.shape) < MIN_ELEMENTWISE || x.shape[3] !== c) return null;
  const [n, h, w] = x.shape as [number, number, number, number];
  return { n, h, w, c };
}

/** Training batch norm (engine/batchnorm-train.ts): y, batch mean, batch variance. */
export const batchNormTrain: KernelFn = ({ inputs, backend, attrs }, s) => {
  const { x, gamma, beta } = inputs as Record<string, tfTypes.TensorInfo | undefined>;
  if (!gamma || !beta || !allF32(x, gamma, beta)) return null;
  const c = gamma.shape[0]!;
  const g = bnTrainGeometry(x, c);
  if (!g) return null;
  const { epsilon } = attrs as unknown as { epsilon: number };
  return sized(s, sizeOf(x!.shape), () => {
    const plan = s.cache.get(key('bn-train', g, epsilon), () => batchNormTrainForwardPlan(s.ctx, g, epsilon));
    return runPlainPlan(s, backend, plan, [x!, gamma, beta], [x!.shape, [c], [c]]);
  });
};

/** Its gradient: dx, dgamma, dbeta. */
export const batchNormTrainGrad: KernelFn = ({ inputs, backend, attrs }, s) => {
  const { dy, x, gamma, beta, mean, variance } = inputs as Record<string, tfTypes.TensorInfo | undefined>;
  if (!dy || !gamma || !beta || !mean || !variance || !allF32(dy, x, gamma, beta, mean, variance))
    return null;
  const c = gamma.shape[0]!;
  const g = bnTrainGeometry(x, c);
  if (!g) return null;
  const { epsilon } = attrs as unknown as { epsilon: number };
  return sized(s, sizeOf(x!.shape), () => {
    const plan = s.cache.get(key('bn-train-grad', g, epsilon), () =>
      batchNormTrainBackwardPlan(s.ctx, g, epsilon),
    );
    return runPlainPlan(s, backend, plan, [x!, dy, gamma, beta, mean, variance], [x!.shape, [c], [c]]);
  });
};
