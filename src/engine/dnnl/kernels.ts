import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import {
  type ConvGeometry,
  type Epilogue,
  type PlanOptions,
  convBackwardDataPlan,
  convBackwardWeightsPlan,
  convForwardPlan,
} from './conv-plans.js';
import { BN_TRAIN, BN_TRAIN_GRAD } from '../batchnorm-train.js';
import {
  addPlan,
  batchNormPlan,
  batchNormTrainBackwardPlan,
  batchNormTrainForwardPlan,
  eltwisePlan,
} from './elementwise-plans.js';
import { DNNL, type DnnlApi } from './library.js';
import { matMulPlan } from './matmul-plan.js';
import { DnnlContext, type Plan, PlanCache, alignedMemory } from './plan.js';

/**
 * oneDNN-backed kernels for the wasm backend: convolutions (plain, fused, depthwise, and the gradients
 * of both), matrix products, and the memory-bound kernels between them (relu, clip, residual and bias
 * adds, batch norm; on big tensors only), reading and writing tensors where they lie in the wasm heap.
 * A call oneDNN cannot take (NCHW, int tensors, a broadcast it lacks, PReLU, a small tensor) goes to
 * the kernel registered before ours, so everything else stays exactly as it was.
 */

/** The view of tfjs-backend-wasm's BackendWasm these kernels need. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tfTypes.DataType): tfTypes.TensorInfo;
}

/** Names of the kernels `registerDnnlKernels` replaces on 'wasm'. */
export const DNNL_KERNELS = [
  'Conv2D',
  'FusedConv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2D',
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'BatchMatMul',
  '_FusedMatMul',
  'Relu',
  'Relu6',
  'ClipByValue',
  'Add',
  'FusedBatchNorm',
  BN_TRAIN,
  BN_TRAIN_GRAD,
] as const;

/** The element-wise ones among them: taken only for tensors of at least MIN_ELEMENTWISE values. */
export const DNNL_ELEMENTWISE_KERNELS = ['Relu', 'Relu6', 'ClipByValue', 'Add', 'FusedBatchNorm'] as const;

/**
 * Below this many values an element-wise kernel stays on wasm: a oneDNN call costs a few microseconds
 * of FFI and thread wake-up, more than wasm needs for a small tensor (a bias, a loss, the heads).
 */
export const MIN_ELEMENTWISE = 16384;

const OURS = Symbol.for('agegender.dnnlKernel');
type Marked = tfTypes.KernelConfig & { [OURS]?: tfTypes.KernelConfig | undefined };

interface State {
  ctx: DnnlContext;
  cache: PlanCache;
  opts: PlanOptions;
  /** Calls oneDNN took, and calls handed to the previous kernel; for tests and logs. */
  calls: Record<string, { dnnl: number; fallback: number }>;
  /**
   * Inputs kept in a primitive's own layout, by tensor data id and plan: a model's weights, which every
   * call would otherwise reorder again (~20% of a small-batch inference). tfjs never changes the data
   * behind a data id (the wasm backend's XNNPACK cache relies on the same), so a copy stays valid for the
   * tensor's life; it is made on the second call with the same tensor, so activations, new every call,
   * never get one. null = seen once.
   */
  reordered: WeakMap<object, Map<string, { address: number; offset: number; keep: Buffer } | null>>;
  reorderedBytes: number;
}
let state: State | undefined;

function address(b: WasmBackend, base: number, t: tfTypes.TensorInfo): number {
  const d = b.dataIdMap.get(t.dataId as object);
  if (!d) throw new Error('oneDNN kernel: tensor data not in the wasm heap');
  return base + d.memoryOffset;
}

function count(name: string, dnnl: boolean): void {
  const c = (state!.calls[name] ??= { dnnl: 0, fallback: 0 });
  if (dnnl) c.dnnl++;
  else c.fallback++;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const allF32 = (...ts: Array<tfTypes.TensorInfo | undefined>) => ts.every((t) => !t || t.dtype === 'float32');

/** Past this many bytes of reordered weights, no new copies are made (a runaway guard, not a budget). */
const REORDERED_LIMIT = 1 << 30;
/** Gives a copy's bytes back to the count once its tensor (and so the copy) is collected. */
const released = new FinalizationRegistry<number>((bytes) => {
  if (state) state.reorderedBytes = Math.max(0, state.reorderedBytes - bytes);
});

/**
 * Runs `plan` on `inputs`, writing a new f32 tensor of `outShape` (allocated before the heap is read).
 * Inputs at `reuse` (weights) get a lasting copy in the primitive's layout, see State.reordered.
 */
function runPlan(
  b: WasmBackend,
  plan: Plan,
  planKey: string,
  inputs: tfTypes.TensorInfo[],
  outShape: number[],
  reuse: number[] = [],
): tfTypes.TensorInfo {
  const s = state!;
  const out = b.makeOutput(outShape, 'float32');
  if (sizeOf(outShape) === 0) return out;
  // Allocation may have grown (and moved) the heap: take its address afterwards.
  const base = s.ctx.api.addressOf(b.wasm.HEAPU8);
  const addresses = [...inputs.map((t) => address(b, base, t)), address(b, base, out)];
  const reordered: Array<number | undefined> = [];
  for (const i of reuse) {
    const bytes = plan.reorderedBytes(i);
    if (bytes === 0) continue;
    const id = inputs[i]!.dataId as object;
    const offset = b.dataIdMap.get(id)!.memoryOffset;
    let byPlan = s.reordered.get(id);
    if (!byPlan) s.reordered.set(id, (byPlan = new Map()));
    const have = byPlan.get(planKey);
    if (have && have.offset === offset) {
      reordered[i] = have.address;
    } else if (have === undefined) {
      byPlan.set(planKey, null);
    } else if (s.reorderedBytes + bytes <= REORDERED_LIMIT) {
      const { buf: keep, address: at } = alignedMemory(s.ctx.api, bytes);
      plan.reorderInput(i, addresses[i]!, at);
      byPlan.set(planKey, { address: at, offset, keep });
      s.reorderedBytes += bytes;
      released.register(keep, bytes);
      reordered[i] = at;
    }
  }
  plan.run(addresses, reordered);
  return out;
}

function geometry(info: tfTypes.backend_util.Conv2DInfo, depthwise: boolean): ConvGeometry | null {
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

const key = (kind: string, ...parts: unknown[]) => `${kind}:${JSON.stringify(parts)}`;

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

type KernelFn = (args: {
  inputs: tfTypes.NamedTensorInfoMap;
  backend: WasmBackend;
  attrs: tfTypes.NamedAttrMap;
}) => tfTypes.TensorInfo | tfTypes.TensorInfo[] | null;

/** A config that tries `fn` and hands the call to `previous` when it returns null. */
function wrap(name: string, previous: tfTypes.KernelConfig | undefined, fn: KernelFn): Marked {
  return {
    kernelName: name,
    backendName: 'wasm',
    setupFunc: previous?.setupFunc,
    kernelFunc: (args) => {
      const out = state ? fn(args as never) : null;
      if (out) {
        count(name, true);
        return out;
      }
      if (!previous)
        throw new Error(`oneDNN kernel ${name}: unsupported call and no wasm kernel to fall back on`);
      if (state) count(name, false);
      return previous.kernelFunc(args);
    },
    [OURS]: previous,
  };
}

function convForward(fused: boolean, depthwise: boolean): KernelFn {
  return ({ inputs, backend, attrs }) => {
    const { x, filter, bias, preluActivationWeights } = inputs as Record<
      string,
      tfTypes.TensorInfo | undefined
    >;
    const a = attrs as unknown as tfTypes.FusedConv2DAttrs;
    if (!allF32(x, filter, bias) || preluActivationWeights) return null;
    const eltwise = fused ? eltwiseOf(a.activation, a.leakyreluAlpha) : null;
    if (eltwise === undefined) return null;
    const info = tf.backend_util.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      filter!.shape as [number, number, number, number],
      a.strides,
      a.dilations ?? 1,
      a.pad,
      a.dimRoundingMode,
      depthwise,
      tf.backend_util.convertConv2DDataFormat(a.dataFormat ?? 'NHWC'),
    );
    const g = geometry(info, depthwise);
    if (!g || (bias && sizeOf(bias.shape) !== g.co)) return null;
    const e: Epilogue = { bias: !!bias, eltwise };
    const s = state!;
    const k = key('fwd', g, e, s.opts);
    const plan = s.cache.get(k, () => convForwardPlan(s.ctx, g, e, s.opts));
    return runPlan(backend, plan, k, bias ? [x!, filter!, bias] : [x!, filter!], info.outShape, [1]);
  };
}

function convBackwardData(depthwise: boolean): KernelFn {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as Record<string, tfTypes.TensorInfo>;
    const a = attrs as unknown as tfTypes.Conv2DBackpropInputAttrs & {
      dilations?: number | [number, number];
    };
    if (!allF32(dy, filter)) return null;
    const info = tf.backend_util.computeConv2DInfo(
      a.inputShape,
      filter!.shape as [number, number, number, number],
      a.strides,
      a.dilations ?? 1,
      a.pad,
      a.dimRoundingMode,
      depthwise,
      tf.backend_util.convertConv2DDataFormat(a.dataFormat ?? 'NHWC'),
    );
    const g = geometry(info, depthwise);
    if (!g) return null;
    const s = state!;
    const k = key('bwd-data', g, s.opts);
    const plan = s.cache.get(k, () => convBackwardDataPlan(s.ctx, g, s.opts));
    return runPlan(backend, plan, k, [dy!, filter!], a.inputShape, [1]);
  };
}

function convBackwardWeights(depthwise: boolean): KernelFn {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as Record<string, tfTypes.TensorInfo>;
    const a = attrs as unknown as tfTypes.Conv2DBackpropFilterAttrs & {
      dilations?: number | [number, number];
    };
    if (!allF32(x, dy)) return null;
    const info = tf.backend_util.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      a.filterShape,
      a.strides,
      a.dilations ?? 1,
      a.pad,
      a.dimRoundingMode,
      depthwise,
      tf.backend_util.convertConv2DDataFormat(a.dataFormat ?? 'NHWC'),
    );
    const g = geometry(info, depthwise);
    if (!g) return null;
    const s = state!;
    const k = key('bwd-weights', g, s.opts);
    const plan = s.cache.get(k, () => convBackwardWeightsPlan(s.ctx, g, s.opts));
    return runPlan(backend, plan, k, [x!, dy!], a.filterShape);
  };
}

function matMul(fused: boolean): KernelFn {
  return ({ inputs, backend, attrs }) => {
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
    const s = state!;
    const planKey = key('matmul', g, e, s.opts);
    const plan = s.cache.get(planKey, () => matMulPlan(s.ctx, g, e, s.opts));
    return runPlan(backend, plan, planKey, bias ? [a!, b!, bias] : [a!, b!], [...outer, m, n]);
  };
}

/** An activation, f(x) element by element; `params` gives oneDNN's alpha and beta from the attributes. */
function eltwise(alg: number, params: (attrs: tfTypes.NamedAttrMap) => [number, number]): KernelFn {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as Record<string, tfTypes.TensorInfo>;
    if (!x || !allF32(x)) return null;
    const count = sizeOf(x.shape);
    if (count < MIN_ELEMENTWISE) return null;
    const [alpha, beta] = params(attrs);
    const s = state!;
    const k = key('eltwise', alg, alpha, beta, count);
    const plan = s.cache.get(k, () => eltwisePlan(s.ctx, count, alg, alpha, beta));
    return runPlan(backend, plan, k, [x], x.shape);
  };
}

/**
 * a + b when both have the output's shape (a residual) or one is a vector over the last axis (a bias);
 * other broadcasts stay on wasm.
 */
const add: KernelFn = ({ inputs, backend }) => {
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
  const s = state!;
  const k = key('add', rows, cols, bias);
  const plan = s.cache.get(k, () => addPlan(s.ctx, rows, cols, bias));
  return runPlan(backend, plan, k, [full, other], full.shape);
};

/** Batch norm of an NHWC tensor with given statistics (inference, and training's batch moments). */
const batchNorm: KernelFn = ({ inputs, backend, attrs }) => {
  const { x, mean, variance, offset, scale } = inputs as Record<string, tfTypes.TensorInfo | undefined>;
  if (!x || !mean || !variance || !allF32(x, mean, variance, offset, scale)) return null;
  if (x.shape.length !== 4 || sizeOf(x.shape) < MIN_ELEMENTWISE) return null;
  const [n, h, w, c] = x.shape as [number, number, number, number];
  // Per-channel vectors only ([c], or [1, 1, 1, c]); any other broadcast goes to wasm.
  const perChannel = (t: tfTypes.TensorInfo | undefined) =>
    !t || (sizeOf(t.shape) === c && t.shape.at(-1) === c);
  if (![mean, variance, offset, scale].every(perChannel)) return null;
  const epsilon = (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
  const s = state!;
  const g = { n, h, w, c };
  const k = key('batchnorm', g, epsilon, !!scale, !!offset);
  const plan = s.cache.get(k, () => batchNormPlan(s.ctx, g, epsilon, !!scale, !!offset));
  const args = [x, mean, variance, ...(scale ? [scale] : []), ...(offset ? [offset] : [])];
  return runPlan(backend, plan, k, args, x.shape);
};

/**
 * Runs a plan on plain layouts only (no reorders) that writes several outputs, allocated first and in
 * the plan's order after the inputs.
 */
function runPlainPlan(
  b: WasmBackend,
  plan: Plan,
  inputs: tfTypes.TensorInfo[],
  outShapes: number[][],
): tfTypes.TensorInfo[] {
  const outs = outShapes.map((shape) => b.makeOutput(shape, 'float32'));
  const base = state!.ctx.api.addressOf(b.wasm.HEAPU8);
  plan.run([...inputs, ...outs].map((t) => address(b, base, t)));
  return outs;
}

/** The NHWC geometry of a training batch norm's input oneDNN takes (4-D, big enough), or null. */
function bnTrainGeometry(x: tfTypes.TensorInfo | undefined, c: number) {
  if (!x || x.shape.length !== 4 || sizeOf(x.shape) < MIN_ELEMENTWISE || x.shape[3] !== c) return null;
  const [n, h, w] = x.shape as [number, number, number, number];
  return { n, h, w, c };
}

/** Training batch norm (engine/batchnorm-train.ts): y, batch mean, batch variance. */
const batchNormTrain: KernelFn = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta } = inputs as Record<string, tfTypes.TensorInfo | undefined>;
  if (!gamma || !beta || !allF32(x, gamma, beta)) return null;
  const c = gamma.shape[0]!;
  const g = bnTrainGeometry(x, c);
  if (!g) return null;
  const { epsilon } = attrs as unknown as { epsilon: number };
  const s = state!;
  const plan = s.cache.get(key('bn-train', g, epsilon), () => batchNormTrainForwardPlan(s.ctx, g, epsilon));
  return runPlainPlan(backend, plan, [x!, gamma, beta], [x!.shape, [c], [c]]);
};

/** Its gradient: dx, dgamma, dbeta. */
const batchNormTrainGrad: KernelFn = ({ inputs, backend, attrs }) => {
  const { dy, x, gamma, beta, mean, variance } = inputs as Record<string, tfTypes.TensorInfo | undefined>;
  if (!dy || !gamma || !beta || !mean || !variance || !allF32(dy, x, gamma, beta, mean, variance))
    return null;
  const c = gamma.shape[0]!;
  const g = bnTrainGeometry(x, c);
  if (!g) return null;
  const { epsilon } = attrs as unknown as { epsilon: number };
  const s = state!;
  const plan = s.cache.get(key('bn-train-grad', g, epsilon), () =>
    batchNormTrainBackwardPlan(s.ctx, g, epsilon),
  );
  return runPlainPlan(backend, plan, [x!, dy, gamma, beta, mean, variance], [x!.shape, [c], [c]]);
};

const KERNEL_FNS: Record<(typeof DNNL_KERNELS)[number], KernelFn> = {
  Conv2D: convForward(false, false),
  FusedConv2D: convForward(true, false),
  DepthwiseConv2dNative: convForward(false, true),
  FusedDepthwiseConv2D: convForward(true, true),
  Conv2DBackpropInput: convBackwardData(false),
  DepthwiseConv2dNativeBackpropInput: convBackwardData(true),
  Conv2DBackpropFilter: convBackwardWeights(false),
  DepthwiseConv2dNativeBackpropFilter: convBackwardWeights(true),
  BatchMatMul: matMul(false),
  _FusedMatMul: matMul(true),
  Relu: eltwise(DNNL.eltwiseRelu, () => [0, 0]),
  Relu6: eltwise(DNNL.eltwiseClip, () => [0, 6]),
  ClipByValue: eltwise(DNNL.eltwiseClip, (a) => {
    const { clipValueMin, clipValueMax } = a as unknown as { clipValueMin: number; clipValueMax: number };
    return [clipValueMin, clipValueMax];
  }),
  Add: add,
  FusedBatchNorm: batchNorm,
  [BN_TRAIN]: batchNormTrain,
  [BN_TRAIN_GRAD]: batchNormTrainGrad,
};

/**
 * Puts the oneDNN kernels in front of the registered wasm ones (call after the wasm training kernels
 * are registered, so that those are the fallback). Idempotent; `opts` may change between calls.
 */
export function registerDnnlKernels(api: DnnlApi, opts: PlanOptions): void {
  if (!state || state.ctx.api !== api) {
    state?.cache.clear();
    state = {
      ctx: new DnnlContext(api),
      cache: new PlanCache(),
      opts,
      calls: {},
      reordered: new WeakMap(),
      reorderedBytes: 0,
    };
  } else if (JSON.stringify(state.opts) !== JSON.stringify(opts)) {
    state.cache.clear();
    state.opts = opts;
  }
  for (const name of DNNL_KERNELS) {
    const current = tf.getKernel(name, 'wasm') as Marked | undefined;
    if (current && OURS in current) continue;
    if (current) tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(wrap(name, current, KERNEL_FNS[name]));
  }
}

/** Puts back the kernels that were registered before `registerDnnlKernels`. */
export function unregisterDnnlKernels(): void {
  for (const name of DNNL_KERNELS) {
    const current = tf.getKernel(name, 'wasm') as Marked | undefined;
    if (!current || !(OURS in current)) continue;
    tf.unregisterKernel(name, 'wasm');
    const previous = current[OURS];
    if (previous) tf.registerKernel(previous);
  }
}

/** True while our kernel is the one registered for `name` on 'wasm'. */
export function isDnnlKernel(name: string): boolean {
  const k = tf.getKernel(name, 'wasm') as Marked | undefined;
  return !!k && OURS in k;
}

/** Per-kernel counts of calls oneDNN ran and calls it handed back, since registration. */
export function dnnlCallCounts(): Record<string, { dnnl: number; fallback: number }> {
  return structuredClone(state?.calls ?? {});
}

/** Bytes of weights currently kept in oneDNN's layout (State.reordered); for tests and logs. */
export function dnnlReorderedBytes(): number {
  return state?.reorderedBytes ?? 0;
}
