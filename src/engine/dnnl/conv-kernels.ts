import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import {
  type ConvGeometry,
  type Epilogue,
  convBackwardDataPlan,
  convBackwardWeightsPlan,
  convForwardPlan,
} from './conv-plans.js';
import { Conv1x1WeightsPlan, isPointwise } from './conv1x1-weights-plan.js';
import { DNNL } from './library.js';
import { matMulPlan } from './matmul-plan.js';
import { type KernelFn, allF32, key, runPlan, sizeOf, tensorAddress } from './run-plan.js';

/**
 * oneDNN kernels for convolutions (plain, fused and depthwise forward; the gradients of plain ones: no model
 * we train has a depthwise conv) and matrix products.
 */

/** What every conv kernel's attributes say the same way (forward, and both gradients). */
interface ConvAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: 'same' | 'valid' | number | tfTypes.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dataFormat?: 'NHWC' | 'NCHW';
}

/** The call's geometry as oneDNN takes it (NHWC, non-empty), or null; input and filter shapes as tfjs gives them. */
function geometry(
  xShape: number[],
  filterShape: number[],
  a: ConvAttrs,
  depthwise: boolean,
): ConvGeometry | null {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    depthwise,
    tf.backend_util.convertConv2DDataFormat(a.dataFormat ?? 'NHWC'),
  );
  if (info.dataFormat !== 'channelsLast') return null;
  const g: ConvGeometry = {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    ci: info.inChannels,
    co: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
    oh: info.outHeight,
    ow: info.outWidth,
    depthwise,
  };
  if ([g.n, g.h, g.w, g.ci, g.co, g.oh, g.ow].some((v) => v <= 0)) return null;
  return g;
}

/** The eltwise post-op of a tfjs fused activation, undefined when oneDNN has none (prelu). */
function eltwiseOf(
  activation: string | undefined,
  leakyAlpha: number | undefined,
): Epilogue['eltwise'] | undefined {
  switch (activation ?? 'linear') {
    case 'linear':
      return null;
    case 'relu':
      return { alg: DNNL.eltwiseRelu, alpha: 0, beta: 0 };
    case 'relu6':
      return { alg: DNNL.eltwiseClip, alpha: 0, beta: 6 };
    case 'elu':
      return { alg: DNNL.eltwiseElu, alpha: 1, beta: 0 };
    case 'sigmoid':
      return { alg: DNNL.eltwiseLogistic, alpha: 0, beta: 0 };
    case 'leakyrelu':
      return { alg: DNNL.eltwiseRelu, alpha: leakyAlpha ?? 0.2, beta: 0 };
    default:
      return undefined;
  }
}

export function convForward(fused: boolean, depthwise: boolean): KernelFn {
  return ({ inputs, backend, attrs }, s) => {
    const { x, filter, bias, preluActivationWeights } = inputs as Record<
      string,
      tfTypes.TensorInfo | undefined
    >;
    const a = attrs as unknown as tfTypes.FusedConv2DAttrs;
    if (!allF32(x, filter, bias) || preluActivationWeights) return null;
    const eltwise = fused ? eltwiseOf(a.activation, a.leakyreluAlpha) : null;
    if (eltwise === undefined) return null;
    const g = geometry(x!.shape, filter!.shape, a, depthwise);
    if (!g || (bias && sizeOf(bias.shape) !== g.co)) return null;
    const e: Epilogue = { bias: !!bias, eltwise };
    const k = key('fwd', g, e, s.opts);
    const plan = s.cache.get(k, () => convForwardPlan(s.ctx, g, e, s.opts));
    return runPlan(
      s,
      backend,
      plan,
      k,
      bias ? [x!, filter!, bias] : [x!, filter!],
      [g.n, g.oh, g.ow, g.co],
      [1],
    );
  };
}

export const convBackwardData: KernelFn = ({ inputs, backend, attrs }, s) => {
  const { dy, filter } = inputs as Record<string, tfTypes.TensorInfo>;
  const a = attrs as unknown as tfTypes.Conv2DBackpropInputAttrs & {
    dilations?: number | [number, number];
  };
  if (!allF32(dy, filter)) return null;
  const g = geometry(a.inputShape, filter!.shape, a, false);
  if (!g) return null;
  const k = key('bwd-data', g, s.opts);
  const plan = s.cache.get(k, () => convBackwardDataPlan(s.ctx, g, s.opts));
  return runPlan(s, backend, plan, k, [dy!, filter!], a.inputShape, [1]);
};

export const convBackwardWeights: KernelFn = ({ inputs, backend, attrs }, s) => {
  const { x, dy } = inputs as Record<string, tfTypes.TensorInfo>;
  const a = attrs as unknown as tfTypes.Conv2DBackpropFilterAttrs & {
    dilations?: number | [number, number];
  };
  if (!allF32(x, dy)) return null;
  const g = geometry(x!.shape, a.filterShape, a, false);
  if (!g) return null;
  if (isPointwise(g) && s.opts.layout !== 'plain') {
    const plan = s.cache.get(
      key('bwd-weights-1x1', g, s.opts),
      () => new Conv1x1WeightsPlan(s.ctx, g, s.opts),
    );
    const out = backend.makeOutput(a.filterShape, 'float32');
    // Addresses after the allocation, which may have moved the heap.
    plan.run([x!, dy!, out].map((t) => tensorAddress(s, backend, t)));
    return out;
  }
  const k = key('bwd-weights', g, s.opts);
  const plan = s.cache.get(k, () => convBackwardWeightsPlan(s.ctx, g, s.opts));
  return runPlan(s, backend, plan, k, [x!, dy!], a.filterShape);
};

export function matMul(fused: boolean): KernelFn {
  return ({ inputs, backend, attrs }, s) => {
    const { a, b, bias, preluActivationWeights } = inputs as Record<string, tfTypes.TensorInfo | undefined>;
    const at = attrs as unknown as tfTypes._FusedMatMulAttrs;
    if (!allF32(a, b, bias) || preluActivationWeights) return null;
    const eltwise = fused ? eltwiseOf(at.activation, at.leakyreluAlpha) : null;
    if (eltwise === undefined) return null;
    const ra = a!.shape.length;
    const rb = b!.shape.length;
    if (ra < 2 || rb < 2) return null;
    const m = a!.shape[at.transposeA ? ra - 1 : ra - 2]!;
    const k = a!.shape[at.transposeA ? ra - 2 : ra - 1]!;
    const n = b!.shape[at.transposeB ? rb - 2 : rb - 1]!;
    if (b!.shape[at.transposeB ? rb - 1 : rb - 2] !== k) return null;
    const outerA = a!.shape.slice(0, -2);
    const outerB = b!.shape.slice(0, -2);
    const batchA = sizeOf(outerA);
    const batchB = sizeOf(outerB);
    // Equal batches, or one operand without a batch (broadcast over the other's): anything else,
    // an invalid broadcast included, goes to the wasm kernel.
    let outer: number[];
    try {
      outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
    } catch {
      return null;
    }
    const batch = Math.max(batchA, batchB);
    if (sizeOf(outer) !== batch || (batchA !== batchB && Math.min(batchA, batchB) !== 1)) return null;
    if (m * n * k === 0) return null;
    if (bias && (sizeOf(bias.shape) !== n || bias.shape.at(-1) !== n)) return null;
    const g = { batchA, batchB, m, k, n, transposeA: !!at.transposeA, transposeB: !!at.transposeB };
    const e: Epilogue = { bias: !!bias, eltwise };
    const planKey = key('matmul', g, e, s.opts);
    const plan = s.cache.get(planKey, () => matMulPlan(s.ctx, g, e, s.opts));
    return runPlan(s, backend, plan, planKey, bias ? [a!, b!, bias] : [a!, b!], [...outer, m, n]);
  };
}
