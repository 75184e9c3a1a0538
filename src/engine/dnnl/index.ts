import { DNNL, type DnnlApi, loadDnnl } from './library.js';
import type { PlanOptions } from './conv-plans.js';
import { registerDnnlKernels } from './kernels.js';

export {
  DNNL_ELEMENTWISE_KERNELS,
  DNNL_KERNELS,
  MIN_ELEMENTWISE,
  dnnlCallCounts,
  dnnlReorderedBytes,
  isDnnlKernel,
  unregisterDnnlKernels,
} from './kernels.js';

/** Arithmetic inside oneDNN's convolutions and matmuls: f32, or bf16 where the CPU has it. */
export type Precision = 'f32' | 'bf16';

let loaded: DnnlApi | { reason: string } | undefined;

/** The bound library (loaded once per process), or why there is none. */
export function dnnlLibrary(): DnnlApi | { reason: string } {
  loaded ??= loadDnnl();
  return loaded;
}

/** Name of the widest instruction set oneDNN uses here. */
export function isaName(isa: number): string {
  const has = (mask: number) => (isa & mask) === mask;
  if (has(DNNL.isaAvx512CoreBf16)) return 'avx512_core_bf16';
  if (has(DNNL.isaAvx512Core)) return 'avx512_core';
  if (has(DNNL.isaAvx2)) return 'avx2';
  return `isa ${isa}`;
}

/** AGEGENDER_DNNL_LAYOUT (plain or blocked, for measuring), else channels-last. */
function layoutFromEnv(): PlanOptions['layout'] {
  const v = process.env.AGEGENDER_DNNL_LAYOUT;
  return v === 'plain' || v === 'blocked' ? v : 'channels-last';
}

export interface DnnlStarted {
  version: string;
  isa: string;
  /** What the convolutions compute in: bf16 only when asked for and the CPU has its instructions. */
  precision: Precision;
  /** Why bf16 was asked for and not granted. */
  note?: string;
}

/**
 * Puts oneDNN kernels in front of the wasm ones, on `threads` OpenMP threads. Returns the library
 * version, or the reason it cannot (the wasm kernels stay as they are).
 */
export function startDnnl(threads: number, precision: Precision): DnnlStarted | { reason: string } {
  const api = dnnlLibrary();
  if ('reason' in api) return api;
  api.setThreads?.(threads);
  const isa = isaName(api.cpuIsa);
  // Without the instructions oneDNN would emulate bf16 (slower than f32) or ignore the request.
  const bf16 = precision === 'bf16' && (api.cpuIsa & DNNL.isaAvx512CoreBf16) === DNNL.isaAvx512CoreBf16;
  registerDnnlKernels(api, { layout: layoutFromEnv(), bf16 });
  const note =
    precision === 'bf16' && !bf16
      ? `this CPU has no bf16 instructions (${isa}); computing in f32`
      : undefined;
  return { version: api.version, isa, precision: bf16 ? 'bf16' : 'f32', ...(note ? { note } : {}) };
}
