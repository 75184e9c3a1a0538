import { type DnnlApi, loadDnnl } from './library.js';
import { registerDnnlKernels } from './kernels.js';

export { DNNL_KERNELS, dnnlCallCounts, isDnnlKernel, unregisterDnnlKernels } from './kernels.js';

/** Arithmetic inside oneDNN's convolutions and matmuls: f32, or bf16 where the CPU has it. */
export type Precision = 'f32' | 'bf16';

let loaded: DnnlApi | { reason: string } | undefined;

/** The bound library (loaded once per process), or why there is none. */
export function dnnlLibrary(): DnnlApi | { reason: string } {
  loaded ??= loadDnnl();
  return loaded;
}

/**
 * Puts oneDNN kernels in front of the wasm ones, on `threads` OpenMP threads. Returns the library
 * version, or the reason it cannot (the wasm kernels stay as they are).
 */
export function startDnnl(threads: number, precision: Precision): { version: string } | { reason: string } {
  const api = dnnlLibrary();
  if ('reason' in api) return api;
  api.setThreads?.(threads);
  registerDnnlKernels(api, {
    blocked: process.env.AGEGENDER_DNNL_LAYOUT !== 'plain',
    bf16: precision === 'bf16',
  });
  return { version: api.version };
}
