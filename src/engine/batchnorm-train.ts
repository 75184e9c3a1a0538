import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tfjs.js';
import type { HeapBackend } from './wasm-kernels/kernel-call.js';

/**
 * Batch normalisation in training as two kernels, one forward and one backward, instead of the ~20 small
 * ops tfjs-layers composes it from (moments, then batchNorm, then the gradients of both). On the wasm
 * backend those ops run one after another on one thread, each over the whole activation tensor and each
 * allocating its result: they took 60% of a resnet-xs training step, three times its convolutions. Here
 * the forward reads the input three times (mean, centred variance, output) and writes once; the backward
 * reads dy and x twice and writes once. Same arithmetic as tfjs (biased batch variance, moving averages
 * updated with the layer's momentum), accumulated in float64. These JS kernels serve wasm and cpu; with
 * wasm+dnnl, oneDNN's batch-norm primitives take the 4-D tensors of 16K values or more (dnnl/elementwise-kernels.ts).
 *
 * Installed process-wide by initBackend (engine/backend.ts), like the other kernel overrides: the
 * BatchNormalization layer's training call is routed here when the backend has the kernels (wasm, cpu)
 * and the layer normalises its last axis with both gamma and beta; anything else (inference, tfjs-node,
 * another axis) takes the layer's own code.
 */

export const BN_TRAIN = 'AgegenderBatchNormTrain';
export const BN_TRAIN_GRAD = 'AgegenderBatchNormTrainGrad';
/** A moving statistic's update as one kernel, not three ops and a scalar (24 of each a resnet-xs step). */
export const MOVING_AVERAGE = 'AgegenderMovingAverage';

/** Forward over rows x C (NHWC flattened): y, the batch mean and the biased batch variance per channel. */
export function batchNormTrainForward(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  y: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
): void {
  const c = gamma.length;
  const rows = x.length / c;
  const acc = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) for (let k = 0; k < c; k++) acc[k]! += x[i + k]!;
  const m = new Float64Array(c);
  for (let k = 0; k < c; k++) m[k] = acc[k]! / rows;
  // Centred second pass: E[x^2] - E[x]^2 loses digits when the mean is large next to the spread.
  acc.fill(0);
  for (let i = 0; i < x.length; i += c)
    for (let k = 0; k < c; k++) {
      const d = x[i + k]! - m[k]!;
      acc[k]! += d * d;
    }
  const a = new Float64Array(c); // gamma / sqrt(var + eps)
  const b = new Float64Array(c); // beta - mean * a
  for (let k = 0; k < c; k++) {
    const v = acc[k]! / rows;
    mean[k] = m[k]!;
    variance[k] = v;
    a[k] = gamma[k]! / Math.sqrt(v + eps);
    b[k] = beta[k]! - m[k]! * a[k]!;
  }
  for (let i = 0; i < x.length; i += c) for (let k = 0; k < c; k++) y[i + k] = x[i + k]! * a[k]! + b[k]!;
}

/**
 * Backward of the forward above, through the batch statistics: with xhat = (x - mean) / sqrt(var + eps),
 * dbeta = sum dy, dgamma = sum dy * xhat, dx = gamma / sqrt(var + eps) * (dy - dbeta / M - xhat * dgamma / M).
 */
export function batchNormTrainBackward(
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  eps: number,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
): void {
  const c = gamma.length;
  const rows = x.length / c;
  const invStd = new Float64Array(c);
  for (let k = 0; k < c; k++) invStd[k] = 1 / Math.sqrt(variance[k]! + eps);
  const sumDy = new Float64Array(c);
  const sumDyXc = new Float64Array(c); // sum dy * (x - mean)
  for (let i = 0; i < x.length; i += c)
    for (let k = 0; k < c; k++) {
      const g = dy[i + k]!;
      sumDy[k]! += g;
      sumDyXc[k]! += g * (x[i + k]! - mean[k]!);
    }
  // dx = p * dy + q * x + r per channel, the terms gathered so the last pass is one multiply-add chain.
  const p = new Float64Array(c);
  const q = new Float64Array(c);
  const r = new Float64Array(c);
  for (let k = 0; k < c; k++) {
    const s = invStd[k]!;
    dbeta[k] = sumDy[k]!;
    dgamma[k] = sumDyXc[k]! * s;
    p[k] = gamma[k]! * s;
    q[k] = (-gamma[k]! * s * s * s * sumDyXc[k]!) / rows;
    r[k] = (-gamma[k]! * s * sumDy[k]!) / rows - q[k]! * mean[k]!;
  }
  for (let i = 0; i < x.length; i += c)
    for (let k = 0; k < c; k++) dx[i + k] = p[k]! * dy[i + k]! + q[k]! * x[i + k]! + r[k]!;
}

/** out = moving - (moving - batch) * decay, each step rounded to f32 as tfjs's sub, mul and sub were. */
export function movingAverage(
  moving: Float32Array,
  batch: Float32Array,
  decay: number,
  out: Float32Array,
): void {
  const d = Math.fround(decay);
  for (let i = 0; i < moving.length; i++)
    out[i] = moving[i]! - Math.fround(Math.fround(moving[i]! - batch[i]!) * d);
}

// ---------------------------------------------------------------------------------------------------------
// Kernels: the same functions over each backend's memory.

/** What a kernel needs of a backend: fresh outputs and Float32Array views of tensors. */
interface Memory {
  alloc(shape: number[]): tfTypes.TensorInfo;
  view(t: tfTypes.TensorInfo): Float32Array;
}

interface CpuLike {
  data: { get(id: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: tfTypes.DataType, values: Float32Array): tfTypes.TensorInfo;
}

function memoryOf(backendName: string, backend: object): Memory {
  if (backendName === 'wasm') {
    const be = backend as HeapBackend;
    // Views are taken after every allocation: a heap growth detaches older ones.
    return { alloc: (shape) => be.makeOutput(shape, 'float32'), view: (t) => be.typedArrayFromHeap(t) };
  }
  const be = backend as CpuLike;
  return {
    alloc: (shape) => be.makeTensorInfo(shape, 'float32', new Float32Array(tf.util.sizeFromShape(shape))),
    view: (t) => be.data.get(t.dataId as object).values,
  };
}

const BACKENDS = ['wasm', 'cpu'];

function registerKernels(): void {
  for (const backendName of BACKENDS) {
    if (tf.getKernel(BN_TRAIN, backendName)) continue;
    tf.registerKernel({
      kernelName: BN_TRAIN,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, gamma, beta } = inputs as Record<'x' | 'gamma' | 'beta', tfTypes.TensorInfo>;
        const { epsilon } = attrs as unknown as { epsilon: number };
        const mem = memoryOf(backendName, backend);
        const c = gamma.shape[0]!;
        const y = mem.alloc(x.shape.slice());
        const mean = mem.alloc([c]);
        const variance = mem.alloc([c]);
        const [xv, gv, bv, yv, mv, vv] = [x, gamma, beta, y, mean, variance].map((t) => mem.view(t));
        batchNormTrainForward(xv!, gv!, bv!, epsilon, yv!, mv!, vv!);
        return [y, mean, variance];
      },
    });
    tf.registerKernel({
      kernelName: BN_TRAIN_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { dy, x, gamma, mean, variance } = inputs as Record<
          'dy' | 'x' | 'gamma' | 'mean' | 'variance',
          tfTypes.TensorInfo
        >;
        const { epsilon } = attrs as unknown as { epsilon: number };
        const mem = memoryOf(backendName, backend);
        const dx = mem.alloc(x.shape.slice());
        const dgamma = mem.alloc(gamma.shape.slice());
        const dbeta = mem.alloc(gamma.shape.slice());
        const v = [dy, x, gamma, mean, variance, dx, dgamma, dbeta].map((t) => mem.view(t));
        batchNormTrainBackward(v[0]!, v[1]!, v[2]!, v[3]!, v[4]!, epsilon, v[5]!, v[6]!, v[7]!);
        return [dx, dgamma, dbeta];
      },
    });
    tf.registerKernel({
      kernelName: MOVING_AVERAGE,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { moving, batch } = inputs as Record<'moving' | 'batch', tfTypes.TensorInfo>;
        const mem = memoryOf(backendName, backend);
        const out = mem.alloc(moving.shape.slice());
        const [m, b, o] = [moving, batch, out].map((t) => mem.view(t));
        movingAverage(m!, b!, (attrs as unknown as { decay: number }).decay, o!);
        return out;
      },
    });
  }
  tf.registerGradient({
    kernelName: BN_TRAIN,
    inputsToSave: ['x', 'gamma', 'beta'],
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved, attrs) => {
      // Only y's gradient is followed: the layer uses the batch mean and variance for its moving
      // averages, which are off the loss's path.
      const dy = (dys as tfTypes.Tensor[])[0]!;
      // beta is not needed for the gradient; oneDNN's kernel wants it bound all the same.
      const [x, gamma, beta, mean, variance] = saved as tfTypes.Tensor[];
      const [dx, dgamma, dbeta] = tf
        .engine()
        .runKernel(
          BN_TRAIN_GRAD,
          { dy, x: x!, gamma: gamma!, beta: beta!, mean: mean!, variance: variance! },
          attrs,
        ) as tfTypes.Tensor[];
      return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
    },
  });
}

/** y, batch mean, batch variance of x [..., C] normalised over every axis but the last. */
export function batchNormTrain(
  x: tfTypes.Tensor,
  gamma: tfTypes.Tensor1D,
  beta: tfTypes.Tensor1D,
  epsilon: number,
): [tfTypes.Tensor, tfTypes.Tensor1D, tfTypes.Tensor1D] {
  return tf.engine().runKernel(BN_TRAIN, { x, gamma, beta }, { epsilon }) as [
    tfTypes.Tensor,
    tfTypes.Tensor1D,
    tfTypes.Tensor1D,
  ];
}

// ---------------------------------------------------------------------------------------------------------
// The layer's training call, routed to the kernels.

interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: { read(): tfTypes.Tensor } | null;
  beta: { read(): tfTypes.Tensor } | null;
  movingMean: { read(): tfTypes.Tensor; write(t: tfTypes.Tensor): void };
  movingVariance: { read(): tfTypes.Tensor; write(t: tfTypes.Tensor): void };
}
type LayerCall = (
  this: BatchNormLayer,
  inputs: tfTypes.Tensor | tfTypes.Tensor[],
  kwargs: Record<string, unknown>,
) => tfTypes.Tensor;

let installed = false;

export function installFusedBatchNormTraining(): void {
  if (installed) return;
  installed = true;
  registerKernels();
  const proto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: LayerCall };
  const original = proto.call;
  proto.call = function (this: BatchNormLayer, inputs, kwargs) {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const rank = x.shape.length;
    const lastAxis = this.axis === -1 || this.axis === rank - 1;
    if (
      !kwargs?.['training'] ||
      !lastAxis ||
      rank < 2 ||
      x.dtype !== 'float32' ||
      this.gamma == null ||
      this.beta == null ||
      !BACKENDS.includes(tf.getBackend())
    ) {
      return original.call(this, inputs, kwargs);
    }
    return tf.tidy(() => {
      const [y, mean, variance] = batchNormTrain(
        x,
        this.gamma!.read() as tfTypes.Tensor1D,
        this.beta!.read() as tfTypes.Tensor1D,
        this.epsilon,
      );
      // The layer's own moving-average update: moving -= (moving - batch) * (1 - momentum).
      for (const [moving, batch] of [
        [this.movingMean, mean],
        [this.movingVariance, variance],
      ] as const) {
        const inputs = { moving: moving.read(), batch };
        moving.write(
          tf.engine().runKernel(MOVING_AVERAGE, inputs, { decay: 1 - this.momentum }) as tfTypes.Tensor,
        );
      }
      return y;
    });
  };
}
