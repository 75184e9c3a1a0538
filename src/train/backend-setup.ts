import * as tf from '@tensorflow/tfjs';
import { type BackendChoice, initBackend } from '../engine/backend.js';
import { assertFitsBackend } from '../engine/memory.js';

export type { BackendChoice } from '../engine/backend.js';

/** Starts the tfjs backend through the engine (wasm training kernels and threads included). */
export async function setupBackend(backend: BackendChoice, threads?: number): Promise<string> {
  const info = await initBackend({ backend, threads });
  return `${info.name} (${info.threads} thread${info.threads === 1 ? '' : 's'})`;
}

/**
 * Refuses up front, in one line, a run whose training step cannot fit the backend's memory (e.g. the
 * seed's basic-cnn at 224x224 on wasm: a 103M-parameter dense layer), using the engine's estimate.
 */
export function checkFits(model: tf.LayersModel, batchSize: number, imageSize: number): void {
  assertFitsBackend(model, { batchSize, imageSize });
}
