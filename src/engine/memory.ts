import os from 'node:os';
import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tfjs.js';
import { UserError } from '../util/errors.js';
import { isFusedAdam } from './adam.js';

/**
 * Refuses, up front and in one line, a training run that cannot fit the engine's memory. On wasm
 * this matters: the heap is a 32-bit address space, and when it is exhausted the module aborts with
 * "memory access out of bounds" mid-step, leaving the process unusable (measured, tfjs 4.22).
 */

/** tfjs-backend-wasm 4.22's heap ceiling (emscripten getHeapMax(), all three builds): 4 GiB - 64 KiB. */
export const WASM_HEAP_LIMIT_BYTES = 4294901760;

/**
 * Peak heap of one training step, in multiples of the bytes of the parameters and of the layer
 * outputs for one batch. Fitted on measured wasm heap high-water marks (basic-cnn at 64-160 px,
 * batch 8-64; resnet-s at 64-128 px, batch 32-64: estimates within -5%/+10%; basic-cnn at 160 px
 * with tf.train.adam, estimated 4.6 GiB, aborted as predicted).
 * - Parameters cost ~19x their size with tf.train.adam, which holds every temporary of the update
 *   until the whole update ends (weights, gradient, two moments and ~12 temporaries), but ~9x with
 *   our fused Adam (src/engine/adam.ts: weights, gradient, moments, the new weights, XNNPACK's
 *   packed copy of dense weights).
 * - Layer outputs cost ~3x (kept for the backward pass, their gradients, our kernels' transposes),
 *   batch-norm outputs ~16x (its training path keeps centred, scaled and squared copies).
 */
const PARAM_FACTOR_ADAM = 19;
const PARAM_FACTOR_FUSED_ADAM = 9;
const ACTIVATION_FACTOR = 3;
const BATCHNORM_FACTOR = 16;

export interface TrainingMemoryEstimate {
  parameters: number;
  /** float32 elements of all layer outputs for one image (batch-norm outputs weighted, see above) */
  weightedActivationsPerImage: number;
  bytes: number;
}

/** `optimizer`: the one training will use (default tf.train.adam's costs). */
export function estimateTrainingMemory(
  model: tfTypes.LayersModel,
  batchSize: number,
  optimizer?: tfTypes.Optimizer,
): TrainingMemoryEstimate {
  const parameters = model.countParams();
  let weighted = 0;
  for (const layer of model.layers) {
    const shapes = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as Array<
      Array<number | null>
    >;
    const factor = layer.getClassName() === 'BatchNormalization' ? BATCHNORM_FACTOR : ACTIVATION_FACTOR;
    for (const shape of shapes) weighted += factor * shape.slice(1).reduce<number>((a, d) => a * (d ?? 1), 1);
  }
  const paramFactor = isFusedAdam(optimizer) ? PARAM_FACTOR_FUSED_ADAM : PARAM_FACTOR_ADAM;
  const bytes = 4 * (paramFactor * parameters + weighted * batchSize);
  return { parameters, weightedActivationsPerImage: weighted, bytes };
}

/** Memory a backend can give a training run, in bytes. */
export function backendMemoryLimit(backendName: string): number {
  if (backendName === 'wasm') return WASM_HEAP_LIMIT_BYTES;
  // Native TensorFlow and the JS cpu backend allocate from the process: keep to 80% of the machine.
  return Math.floor(os.totalmem() * 0.8);
}

const gib = (b: number) => (b / 2 ** 30).toFixed(1);

/**
 * Throws a one-line UserError when training `model` with `batchSize` would not fit `backendName`
 * (default: the active tfjs backend); returns the estimate otherwise. Two call forms:
 *   assertFitsBackend(model, 'wasm', 32, optimizer?)
 *   assertFitsBackend(model, { batchSize: 32, imageSize: 224, backendName?, optimizer? })
 */
export interface FitOptions {
  batchSize: number;
  /** For the message only (default: the model's input side). */
  imageSize?: number;
  /** Default: the active tfjs backend. */
  backendName?: string;
  /** The optimizer training will use (our fused Adam needs far less than tf.train.adam). */
  optimizer?: tfTypes.Optimizer;
}

export function assertFitsBackend(
  model: tfTypes.LayersModel,
  backendName: string,
  batchSize: number,
  optimizer?: tfTypes.Optimizer,
): TrainingMemoryEstimate;
export function assertFitsBackend(model: tfTypes.LayersModel, opts: FitOptions): TrainingMemoryEstimate;
export function assertFitsBackend(
  model: tfTypes.LayersModel,
  backendOrOpts: string | FitOptions,
  batchSizeArg?: number,
  optimizerArg?: tfTypes.Optimizer,
): TrainingMemoryEstimate {
  const opts: FitOptions =
    typeof backendOrOpts === 'string'
      ? { backendName: backendOrOpts, batchSize: batchSizeArg!, optimizer: optimizerArg }
      : backendOrOpts;
  const backendName = opts.backendName ?? tf.getBackend();
  const batchSize = opts.batchSize;
  const est = estimateTrainingMemory(model, batchSize, opts.optimizer);
  const limit = backendMemoryLimit(backendName);
  if (est.bytes <= limit) return est;
  const inputShape = model.inputs[0]?.shape;
  const side = opts.imageSize ?? inputShape?.[1] ?? undefined;
  const what = `${model.name}${side ? ` at ${side}x${side}` : ''}`;
  const params = `${(est.parameters / 1e6).toFixed(est.parameters < 1e7 ? 1 : 0)}M parameters`;
  const hints =
    backendName === 'wasm'
      ? 'use a smaller --img-size, another --arch (e.g. resnet-s), or --backend tensorflow (needs @tensorflow/tfjs-node)'
      : 'use a smaller --img-size, a smaller --batch-size, or another --arch';
  throw new UserError(
    `${what} needs ~${gib(est.bytes)} GiB to train (${params}, batch ${batchSize}) but the ${backendName} ` +
      `backend has ${gib(limit)} GiB: ${hints}`,
  );
}
