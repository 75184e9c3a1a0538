import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import { BN_TRAIN, BN_TRAIN_GRAD } from '../batchnorm-train.js';
import type { PlanOptions } from './conv-plans.js';
import { convBackwardData, convBackwardWeights, convForward, matMul } from './conv-kernels.js';
import { RELU_GRAD } from '../relu-grad.js';
import {
  add,
  batchNorm,
  batchNormTrain,
  batchNormTrainGrad,
  eltwise,
  reluGrad,
} from './elementwise-kernels.js';
import { DNNL, type DnnlApi } from './library.js';
import { avgPoolGrad, maxPoolGrad } from './pool-kernels.js';
import { DnnlContext, PlanCache } from './plan.js';
import type { KernelFn, KernelState } from './run-plan.js';

export { MIN_ELEMENTWISE } from './elementwise-kernels.js';

/**
 * oneDNN-backed kernels for the wasm backend, registered in front of its own: convolutions and matrix
 * products (conv-kernels.ts), the memory-bound kernels between them (elementwise-kernels.ts), each reading
 * and writing tensors where they lie in the wasm heap (run-plan.ts). A call oneDNN cannot take (NCHW, int tensors, a broadcast it lacks, PReLU, a small tensor) goes to
 * the kernel registered before ours, so everything else stays exactly as it was.
 */

/** Names of the kernels `registerDnnlKernels` replaces on 'wasm'. */
export const DNNL_KERNELS = [
  'Conv2D',
  'FusedConv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2D',
  'BatchMatMul',
  '_FusedMatMul',
  'Relu',
  'Relu6',
  'ClipByValue',
  'Add',
  'FusedBatchNorm',
  BN_TRAIN,
  BN_TRAIN_GRAD,
  RELU_GRAD,
  'MaxPoolGrad',
  'AvgPoolGrad',
] as const;

/** The element-wise ones among them: taken only for tensors of at least MIN_ELEMENTWISE values. */
export const DNNL_ELEMENTWISE_KERNELS = [
  'Relu',
  'Relu6',
  'ClipByValue',
  'Add',
  'FusedBatchNorm',
  RELU_GRAD,
] as const;

const OURS = Symbol.for('agegender.dnnlKernel');
type Marked = tfTypes.KernelConfig & { [OURS]?: tfTypes.KernelConfig | undefined };

let state: KernelState | undefined;

function count(name: string, dnnl: boolean): void {
  const c = (state!.calls[name] ??= { dnnl: 0, fallback: 0 });
  if (dnnl) c.dnnl++;
  else c.fallback++;
}

/** A config that tries `fn` and hands the call to `previous` when it returns null. */
function wrap(name: string, previous: tfTypes.KernelConfig | undefined, fn: KernelFn): Marked {
  return {
    kernelName: name,
    backendName: 'wasm',
    setupFunc: previous?.setupFunc,
    kernelFunc: (args) => {
      const out = state ? fn(args as never, state) : null;
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

const KERNEL_FNS: Record<(typeof DNNL_KERNELS)[number], KernelFn> = {
  Conv2D: convForward(false, false),
  FusedConv2D: convForward(true, false),
  DepthwiseConv2dNative: convForward(false, true),
  FusedDepthwiseConv2D: convForward(true, true),
  Conv2DBackpropInput: convBackwardData,
  Conv2DBackpropFilter: convBackwardWeights,
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
  [RELU_GRAD]: reluGrad,
  MaxPoolGrad: maxPoolGrad,
  AvgPoolGrad: avgPoolGrad,
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
