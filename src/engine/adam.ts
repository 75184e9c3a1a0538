import type * as tfTypes from '@tensorflow/tfjs';
import { heapMemory, simdAdam } from './adam-simd.js';
import { tf } from './tfjs.js';

/**
 * Adam with tfjs's exact update rule and state (same moment variables, same serialisation as
 * tf.train.adam), but on the wasm backend each variable is updated by one fused kernel (one pass
 * over its memory, moments in place, float32 SIMD: adam-simd.ts) instead of ~14 tensor ops.
 *
 * Why: tf.train.adam keeps every temporary of the update (about 12 parameter-sized tensors per
 * variable) alive until all variables are done, so a 100M-parameter dense layer needs ~5 GB just for
 * the update; this one needs one weight-sized buffer at a time beyond weights, gradients and moments.
 * It is also faster (one memory pass instead of ~14). Elsewhere (cpu, tensorflow) it is tf.train.adam.
 */

interface WasmHeapBackend {
  dataIdMap: { get(dataId: object): { refCount: number } | undefined };
  typedArrayFromHeap(info: { shape: number[]; dtype: tfTypes.DataType; dataId: object }): Float32Array;
}

/** The private state of tf.AdamOptimizer (tfjs-core 4.22 adam_optimizer.ts). */
interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tfTypes.Variable;
  accBeta2: tfTypes.Variable;
  accumulatedFirstMoment: Array<{ originalName: string; variable: tfTypes.Variable } | undefined>;
  accumulatedSecondMoment: Array<{ originalName: string; variable: tfTypes.Variable } | undefined>;
}

const FUSED = Symbol.for('agegender.fusedAdam');

/** True for an optimizer made by createAdam (tfjs's Optimizer overrides instanceof: any optimizer passes). */
export function isFusedAdam(optimizer: unknown): boolean {
  return optimizer != null && (optimizer as Record<symbol, unknown>)[FUSED] === true;
}

export class FusedAdamOptimizer extends tf.AdamOptimizer {
  readonly [FUSED] = true;

  /** Serialises as (and is interchangeable with) tfjs's Adam. */
  static override get className(): string {
    return 'Adam';
  }

  override applyGradients(variableGradients: Parameters<tfTypes.AdamOptimizer['applyGradients']>[0]): void {
    if (tf.getBackend() !== 'wasm') {
      super.applyGradients(variableGradients);
      return;
    }
    const self = this as unknown as AdamInternals;
    const list = Array.isArray(variableGradients) ? variableGradients : null;
    const map = list ? null : (variableGradients as Record<string, tfTypes.Tensor>);
    const names = list ? list.map((v) => v.name) : Object.keys(map!);
    registerFusedAdamKernel();
    // 1 - beta^t as tfjs computes it: a float32 subtraction from the float32 accumulators.
    const c1 = Math.fround(1 - self.accBeta1.dataSync()[0]!);
    const c2 = Math.fround(1 - self.accBeta2.dataSync()[0]!);
    const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps } = self;
    names.forEach((name, i) => {
      const value = tf.engine().registeredVariables[name]!;
      if (self.accumulatedFirstMoment[i] == null) {
        self.accumulatedFirstMoment[i] = {
          originalName: `${name}/m`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        };
      }
      if (self.accumulatedSecondMoment[i] == null) {
        self.accumulatedSecondMoment[i] = {
          originalName: `${name}/v`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        };
      }
      const gradient = list ? list[i]!.tensor : map![name];
      if (gradient == null) return;
      const m = self.accumulatedFirstMoment[i]!.variable;
      const v = self.accumulatedSecondMoment[i]!.variable;
      ownData(m);
      ownData(v);
      const next = tf
        .engine()
        .runKernel(
          FUSED_ADAM,
          { w: value, g: gradient, m, v },
          { lr, b1, b2, eps, c1, c2 },
        ) as tfTypes.Tensor;
      value.assign(next);
      next.dispose();
    });
    tf.tidy(() => {
      self.accBeta1.assign(tf.mul(self.accBeta1, b1));
      self.accBeta2.assign(tf.mul(self.accBeta2, b2));
    });
    this.incrementIterations();
  }
}

/**
 * The update as a wasm kernel: moments in place, the new weights in new memory. Weights must not
 * change in place: the wasm backend caches XNNPACK operators with packed copies of the weights,
 * keyed by the weight tensor, and would keep using the stale copy.
 */
const FUSED_ADAM = 'AgegenderFusedAdam';

interface HeapKernelBackend extends WasmHeapBackend {
  makeOutput(shape: number[], dtype: tfTypes.DataType): tfTypes.TensorInfo;
  dataIdMap: { get(dataId: object): { refCount: number; memoryOffset: number } | undefined };
  wasm: Parameters<typeof heapMemory>[0];
}

const f = Math.fround;

/**
 * The update of elements [from, to) in float32, tf.train.adam's ops in its order (each rounded to
 * float32): the SIMD function's arithmetic, for the tail it leaves and where SIMD is unavailable.
 */
function adamScalar(
  w: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  out: Float32Array,
  from: number,
  to: number,
  k32: {
    nlr: number;
    b1: number;
    omb1: number;
    b2: number;
    omb2: number;
    c1: number;
    c2: number;
    eps: number;
  },
): void {
  const { nlr, b1, omb1, b2, omb2, c1, c2, eps } = k32;
  for (let k = from; k < to; k++) {
    const gk = g[k]!;
    const mk = f(f(m[k]! * b1) + f(gk * omb1));
    const vk = f(f(v[k]! * b2) + f(f(gk * gk) * omb2));
    m[k] = mk;
    v[k] = vk;
    out[k] = f(f(f(f(mk / c1) / f(f(Math.sqrt(f(vk / c2))) + eps)) * nlr) + w[k]!);
  }
}

function registerFusedAdamKernel(): void {
  if (tf.getKernel(FUSED_ADAM, 'wasm')) return;
  tf.registerKernel({
    kernelName: FUSED_ADAM,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { w, g, m, v } = inputs as Record<'w' | 'g' | 'm' | 'v', tfTypes.TensorInfo>;
      const { lr, b1, b2, eps, c1, c2 } = attrs as Record<string, number>;
      const be = backend as HeapKernelBackend;
      const out = be.makeOutput(w.shape.slice(), 'float32');
      // The constants as the float32 scalars tfjs's ops would hold.
      const k32 = {
        nlr: f(-lr!),
        b1: f(b1!),
        omb1: f(1 - b1!),
        b2: f(b2!),
        omb2: f(1 - b2!),
        c1: f(c1!),
        c2: f(c2!),
        eps: f(eps!),
      };
      const n = tf.util.sizeFromShape(w.shape);
      const simd = simdAdam(heapMemory(be.wasm));
      const vectors = simd ? n - (n % 4) : 0;
      if (simd && vectors > 0) {
        const offset = (t: tfTypes.TensorInfo) => be.dataIdMap.get(t.dataId as object)!.memoryOffset;
        const { nlr, b1, omb1, b2, omb2, c1, c2, eps } = k32;
        simd(
          offset(w),
          offset(g),
          offset(m),
          offset(v),
          offset(out),
          vectors * 4,
          nlr,
          b1,
          omb1,
          b2,
          omb2,
          c1,
          c2,
          eps,
        );
      }
      if (vectors < n) {
        // Views after the allocation (a heap growth detaches older ones).
        const [wv, gv, mv, vv, ov] = [w, g, m, v, out].map((t) => be.typedArrayFromHeap(t as never));
        adamScalar(wv!, gv!, mv!, vv!, ov!, vectors, n, k32);
      }
      return out;
    },
  });
}

/**
 * Gives `t` memory of its own before an in-place update: tensors made by clone() or reshape() share
 * their source's memory (reference-counted), and they must keep seeing the old values.
 */
function ownData(t: tfTypes.Variable): void {
  const be = tf.backend() as unknown as WasmHeapBackend;
  if ((be.dataIdMap.get(t.dataId)?.refCount ?? 1) <= 1) return;
  const copy = tf.mul(t, 1);
  t.assign(copy);
  copy.dispose();
}

/**
 * Sets an optimizer's learning rate for the next steps (a schedule's value). tfjs keeps it in a
 * protected field read at every step, and offers no setter.
 */
export function setLearningRate(optimizer: tfTypes.Optimizer, lr: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

/** Drop-in for tf.train.adam(learningRate, beta1, beta2, epsilon). */
export function createAdam(
  learningRate = 0.001,
  beta1 = 0.9,
  beta2 = 0.999,
  epsilon?: number,
): tfTypes.AdamOptimizer {
  return new FusedAdamOptimizer(learningRate, beta1, beta2, epsilon);
}
