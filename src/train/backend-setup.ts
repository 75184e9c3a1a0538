import * as tf from '@tensorflow/tfjs';
import { type BackendChoice, type Precision, describeBackend, initBackend } from '../engine/backend.js';
import { assertFitsBackend } from '../engine/memory.js';

export type { BackendChoice, Precision } from '../engine/backend.js';

/**
 * Starts the tfjs backend through the engine (wasm training kernels, oneDNN kernels and threads
 * included); returns the log line's description, e.g. `wasm+dnnl (oneDNN 2.6.3, 2 threads, simd), tfjs 4.22.0`.
 */
export async function setupBackend(
  backend: BackendChoice,
  threads?: number,
  precision?: Precision,
): Promise<string> {
  await initBackend({ backend, threads, precision });
  return describeBackend();
}

/**
 * Refuses up front, in one line, a run whose training step cannot fit the backend's memory (e.g. the
 * seed's basic-cnn at 224x224 on wasm: a 103M-parameter dense layer), using the engine's estimate.
 */
export function checkFits(model: tf.LayersModel, batchSize: number, imageSize: number): void {
  assertFitsBackend(model, { batchSize, imageSize });
}
