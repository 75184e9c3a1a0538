import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError, reason } from '../util/errors.js';

/**
 * Chooses and starts the tensor engine. 'auto' prefers the native TensorFlow binding
 * (@tensorflow/tfjs-node[-gpu], an optional dependency) and otherwise uses tfjs-backend-wasm, which
 * always works: XNNPACK kernels, plus our training kernels (./wasm-kernels) that the package lacks.
 */

import type { BackendChoice } from './backend-choice.js';
export type { BackendChoice } from './backend-choice.js';

export interface BackendOptions {
  backend?: BackendChoice;
  /** wasm worker threads; default all cores, env AGEGENDER_THREADS overrides. */
  threads?: number;
  /** Suppress the one-line notices (fallbacks) on stderr. */
  quiet?: boolean;
}

export interface BackendInfo {
  /** tfjs backend name: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** Threads the engine computes with (the native backend manages its own pool: reported as cores). */
  threads: number;
}

const require = createRequire(import.meta.url);
let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;
let pendingKey = '';

/** Imports the native binding if installed; registers backend 'tensorflow' as a side effect. */
async function importNative(): Promise<string | undefined> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      return pkg;
    } catch {
      // absent or unloadable (no libtensorflow): try the next, then wasm
    }
  }
  return undefined;
}

/** Directory holding the .wasm binaries of the installed tfjs-backend-wasm, with a trailing slash. */
export function wasmDistDir(): string {
  return (
    path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep
  );
}

function requestedThreads(opt: number | undefined): number {
  const env = process.env.AGEGENDER_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1)
      throw new UserError(`AGEGENDER_THREADS: expected a positive integer, got '${env}'`);
    return n;
  }
  if (opt !== undefined) {
    if (!Number.isInteger(opt) || opt < 1)
      throw new UserError(`--threads: expected a positive integer, got '${opt}'`);
    return opt;
  }
  return os.availableParallelism();
}

function notice(quiet: boolean, msg: string): void {
  if (!quiet) process.stderr.write(`agegender: ${msg}\n`);
}

async function startWasm(threads: number, quiet: boolean): Promise<BackendInfo> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const { registerWasmTrainingKernels } = await import('./wasm-kernels/index.js');
  // Read the .wasm files from node_modules: no fetch, no network.
  wasm.setWasmPaths(wasmDistDir());
  registerWasmTrainingKernels();
  if (threads > 1) {
    const threaded = await import('./wasm-threads.js');
    const want = Math.min(threads, threaded.MAX_WASM_THREADS);
    const installed = await threaded.installThreadedWasmBackend(wasm, want);
    if ('reason' in installed) {
      notice(quiet, `wasm backend on 1 thread: ${installed.reason}`);
    } else if (!(await tf.setBackend('wasm'))) {
      threaded.restoreStockWasmBackend(installed.stock);
      notice(quiet, 'the multithreaded wasm backend failed to start; using 1 thread');
    }
  }
  if (tf.getBackend() !== 'wasm' && !(await tf.setBackend('wasm'))) {
    throw new Error('the wasm backend failed to initialise');
  }
  await tf.ready();
  const { runningWasmThreads } = await import('./wasm-threads.js');
  return { name: 'wasm', threads: Math.max(1, runningWasmThreads()) };
}

async function start(opts: BackendOptions): Promise<BackendInfo> {
  const choice = opts.backend ?? 'auto';
  const quiet = opts.quiet ?? false;
  if (choice === 'tensorflow' || choice === 'auto') {
    const pkg = await importNative();
    if (pkg && (await tf.setBackend('tensorflow'))) {
      await tf.ready();
      return { name: 'tensorflow', threads: os.availableParallelism() };
    }
    if (choice === 'tensorflow') {
      throw new UserError(
        'backend tensorflow: @tensorflow/tfjs-node is not installed (npm install @tensorflow/tfjs-node@4.22.0, ' +
          'needs network access to fetch libtensorflow); or use --backend wasm',
      );
    }
  }
  if (choice === 'cpu') {
    await tf.setBackend('cpu');
    await tf.ready();
    return { name: 'cpu', threads: 1 };
  }
  return startWasm(requestedThreads(opts.threads), quiet);
}

/**
 * Starts the engine once per process; later calls return the same answer (a call asking for another
 * backend than the running one switches to it). Throws UserError for an impossible request.
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  const key = JSON.stringify([
    opts.backend ?? 'auto',
    opts.threads ?? null,
    process.env.AGEGENDER_THREADS ?? null,
  ]);
  if (
    current &&
    (key === pendingKey || (opts.backend ?? 'auto') === 'auto') &&
    tf.getBackend() === current.name
  ) {
    return current;
  }
  if (pending && key === pendingKey) return pending;
  pendingKey = key;
  pending = start(opts).then(
    (info) => {
      current = info;
      return info;
    },
    (err: unknown) => {
      pending = undefined;
      if (err instanceof UserError) throw err;
      throw new UserError(`cannot start the ${opts.backend ?? 'auto'} backend: ${reason(err)}`);
    },
  );
  return pending;
}

/** One line for logs, e.g. `wasm (2 threads, simd), tfjs 4.22.0`. */
export function describeBackend(): string {
  const name = tf.getBackend() ?? 'none';
  const parts: string[] = [];
  if (current && current.name === name) {
    parts.push(`${current.threads} thread${current.threads === 1 ? '' : 's'}`);
  }
  if (name === 'wasm') parts.push(tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'simd' : 'no simd');
  return `${name}${parts.length ? ` (${parts.join(', ')})` : ''}, tfjs ${tf.version.tfjs}`;
}
