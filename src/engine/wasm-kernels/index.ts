import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import { makeBatchMatMulConfig } from './batch-mat-mul.js';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { makeConv2dBackpropInputConfig } from './conv2d-backprop-input.js';
import { makeCastConfig, makeIdentityConfig } from './identity.js';
import { makeLeadingAxesReduceConfig } from './leading-axes-sum.js';
import { maxPoolGradConfig } from './max-pool-grad.js';

/**
 * Kernels that training on tfjs-backend-wasm 4.22 needs: the missing gradients of conv2d (tfjs never
 * falls back to another backend, it throws "Kernel ... not registered"; no model we train has a depthwise
 * conv, so its gradients stay unregistered),
 * and faster replacements for slow wasm kernels: two on the backward pass, the per-channel Sum and
 * Mean (bias gradients), and Identity and same-type Cast as views instead of copies (identity.ts).
 */

const OURS = Symbol.for('agegender.wasmTrainingKernel');
type Marked = tfTypes.KernelConfig & { [OURS]?: true };

/** Names of the kernels `registerWasmTrainingKernels` registers for 'wasm'. */
export const WASM_TRAINING_KERNELS = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'BatchMatMul',
  'MaxPoolGrad',
  'Sum',
  'Mean',
  'Identity',
  'Cast',
] as const;

function install(config: tfTypes.KernelConfig): void {
  const current = tf.getKernel(config.kernelName, 'wasm') as Marked | undefined;
  if (current?.[OURS]) return;
  // registerKernel warns on a duplicate and overwrites; unregister first to replace quietly.
  if (current) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel({ ...config, [OURS]: true } as Marked);
}

/**
 * Registers the training kernels for the 'wasm' backend. Idempotent; callable before or after the
 * backend initialises (the replaced kernels keep their wasm setup). Needs `@tensorflow/tfjs-backend-wasm`
 * imported first, since the replacements wrap its own kernels.
 */
export function registerWasmTrainingKernels(): void {
  const matMul = tf.getKernel('BatchMatMul', 'wasm') as Marked | undefined;
  if (matMul == null) {
    throw new Error('registerWasmTrainingKernels: import @tensorflow/tfjs-backend-wasm first');
  }
  install(conv2dBackpropFilterConfig);
  install(maxPoolGradConfig);
  const convInput = tf.getKernel('Conv2DBackpropInput', 'wasm') as Marked | undefined;
  if (!convInput?.[OURS]) install(makeConv2dBackpropInputConfig(convInput));
  if (!matMul[OURS]) install(makeBatchMatMulConfig(matMul));
  for (const name of ['Sum', 'Mean'] as const) {
    const reduce = tf.getKernel(name, 'wasm') as Marked | undefined;
    if (reduce && !reduce[OURS]) install(makeLeadingAxesReduceConfig(name, reduce));
  }
  const identity = tf.getKernel('Identity', 'wasm') as Marked | undefined;
  if (identity && !identity[OURS]) install(makeIdentityConfig(identity));
  const cast = tf.getKernel('Cast', 'wasm') as Marked | undefined;
  if (cast && !cast[OURS]) install(makeCastConfig(cast));
}

/** True when the kernel registered for 'wasm' under `name` is one of ours. */
export function isWasmTrainingKernel(name: string): boolean {
  return Boolean((tf.getKernel(name, 'wasm') as Marked | undefined)?.[OURS]);
}
