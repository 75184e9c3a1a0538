import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { tf } from './tfjs.js';
import { EngineInUseError, UserError, reason } from '../util/errors.js';
import { type BackendChoice, PRECISION_CHOICES, type Precision } from './engine-options.js';
import { registerFastBatchNormGrad } from './batchnorm-grad.js';
import { installFusedBatchNormTraining } from './batchnorm-train.js';
import { installLeafConvTraining } from './leaf-conv.js';
import { installFastReluGrad } from './relu-grad.js';

/**
 * Chooses and starts the tensor engine. 'auto' prefers the native TensorFlow binding
 * (@tensorflow/tfjs-node[-gpu], an optional dependency), then tfjs-backend-wasm with oneDNN kernels
 * for convolutions and matmuls ('wasm+dnnl', when libdnnl and koffi load: ./dnnl), then plain
 * tfjs-backend-wasm, which always works: XNNPACK kernels, plus our training kernels (./wasm-kernels)
 * that the package lacks.
 */

export { BACKEND_CHOICES, PRECISION_CHOICES } from './engine-options.js';
export type { BackendChoice, Precision } from './engine-options.js';

export interface BackendOptions {
  backend?: BackendChoice;
  /** wasm worker threads; default all cores, env AGEGENDER_THREADS overrides. */
  threads?: number;
  /** Suppress the one-line notices (fallbacks) on stderr. */
  quiet?: boolean;
  /** Default f32; bf16 needs wasm+dnnl (env AGEGENDER_PRECISION overrides). */
  precision?: Precision;
}

export interface BackendInfo {
  /** tfjs backend name: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** What computes: the tfjs backend name, or 'wasm+dnnl' when oneDNN kernels run on wasm. */
  engine: string;
  /** Threads the engine computes with (the native backend manages its own pool: reported as cores). */
  threads: number;
  /** oneDNN version when its kernels run. */
  dnnl?: string;
  precision: Precision;
}

const require = createRequire(import.meta.url);
let current: BackendInfo | undefined;
/** Live predictors on the current engine (leaseEngine). */
let leases = 0;
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

/** oneDNN's threads: the engine's, unless AGEGENDER_DNNL_THREADS says otherwise (for measuring). */
function dnnlThreads(threads: number): number {
  const env = process.env.AGEGENDER_DNNL_THREADS;
  if (env === undefined || env === '') return threads;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1)
    throw new UserError(`AGEGENDER_DNNL_THREADS: expected a positive integer, got '${env}'`);
  return n;
}

function requestedPrecision(opt: Precision | undefined): Precision {
  const env = process.env.AGEGENDER_PRECISION;
  const value = env !== undefined && env !== '' ? env : (opt ?? 'f32');
  const found = PRECISION_CHOICES.find((p) => p === value);
  if (!found) throw new UserError(`precision: expected f32 or bf16, got '${value}'`);
  return found;
}

async function startWasm(
  threads: number,
  quiet: boolean,
  dnnl: 'require' | 'try' | 'off',
  precision: Precision,
): Promise<BackendInfo> {
  // require, not import: see ./tfjs.ts (the same scan of a CommonJS package's exports).
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  const { registerWasmTrainingKernels } = await import('./wasm-kernels/index.js');
  const dnnlModule = await import('./dnnl/index.js');
  // Read the .wasm files from node_modules: no fetch, no network.
  wasm.setWasmPaths(wasmDistDir());
  // The training kernels go in first: the oneDNN ones fall back on whatever was registered before.
  dnnlModule.unregisterDnnlKernels();
  registerWasmTrainingKernels();
  // With oneDNN computing the heavy kernels on its own threads, wasm keeps to the calling thread: what is
  // left to it are small ops (losses, the layers' scalar arithmetic), where waking XNNPACK's pool cost
  // more than the op (a [32,1] x [32,101] multiply: 630 us on 2 threads, 40 us on one, on a 2-core VM),
  // and its spinning workers took the cores oneDNN's threads were about to use.
  const dnnlLoads = dnnl !== 'off' && 'version' in dnnlModule.dnnlLibrary();
  if (threads > 1 && !dnnlLoads) {
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
  const running = Math.max(1, runningWasmThreads());
  if (dnnl !== 'off') {
    const started = dnnlModule.startDnnl(dnnlThreads(threads), precision);
    if ('version' in started) {
      if (started.note) notice(quiet, started.note);
      return {
        name: 'wasm',
        engine: 'wasm+dnnl',
        threads: dnnlThreads(threads),
        dnnl: `${started.version}, ${started.isa}`,
        precision: started.precision,
      };
    }
    if (dnnl === 'require') throw new UserError(`backend wasm+dnnl: ${started.reason}`);
    notice(quiet, `oneDNN kernels off (${started.reason}); using the wasm kernels`);
  }
  if (precision === 'bf16') notice(quiet, 'bf16 needs oneDNN (wasm+dnnl); computing in f32');
  return { name: 'wasm', engine: 'wasm', threads: running, precision: 'f32' };
}

async function start(opts: BackendOptions): Promise<BackendInfo> {
  const choice = opts.backend ?? 'auto';
  const quiet = opts.quiet ?? false;
  const precision = requestedPrecision(opts.precision);
  if (choice === 'tensorflow' || choice === 'auto') {
    const pkg = await importNative();
    if (pkg && (await tf.setBackend('tensorflow'))) {
      await tf.ready();
      if (precision === 'bf16') notice(quiet, 'bf16 needs oneDNN (wasm+dnnl); computing in f32');
      return {
        name: 'tensorflow',
        engine: 'tensorflow',
        threads: os.availableParallelism(),
        precision: 'f32',
      };
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
    // Its first tensor would print tfjs's "install our node backend" banner, on the host's stdout.
    const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
    if (cpu) cpu.firstUse = false;
    if (precision === 'bf16') notice(quiet, 'bf16 needs oneDNN (wasm+dnnl); computing in f32');
    return { name: 'cpu', engine: 'cpu', threads: 1, precision: 'f32' };
  }
  const dnnl = choice === 'wasm+dnnl' ? 'require' : choice === 'auto' ? 'try' : 'off';
  return startWasm(requestedThreads(opts.threads), quiet, dnnl, precision);
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
    opts.precision ?? null,
    process.env.AGEGENDER_PRECISION ?? null,
  ]);
  if (
    current &&
    (key === pendingKey || (opts.backend ?? 'auto') === 'auto') &&
    tf.getBackend() === current.name
  ) {
    return current;
  }
  if (pending && key === pendingKey) return pending;
  if (leases > 0 && current)
    throw new EngineInUseError(
      `the ${current.engine} engine is in use by a live predictor; cannot start ${opts.backend ?? 'auto'} ` +
        `with other settings in this process (dispose the predictors first, or ask for 'auto')`,
    );
  pendingKey = key;
  // Gradients are registered for every backend, so this override goes with the engine, not a model.
  registerFastBatchNormGrad();
  installFusedBatchNormTraining();
  installFastReluGrad();
  installLeafConvTraining();
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

/**
 * Starts the engine for a predictor and holds it until `release`: while a lease is held, no other
 * backend or thread count can be started in this process (EngineInUseError), so a live predictor never
 * has its engine switched under it. 'auto', or the running engine's own name, joins the running engine.
 */
export async function leaseEngine(
  opts: BackendOptions = {},
): Promise<{ info: BackendInfo; release: () => void }> {
  const choice = opts.backend ?? 'auto';
  let info: BackendInfo;
  if (leases > 0 && current && tf.getBackend() === current.name) {
    const sameEngine = choice === 'auto' || choice === current.engine;
    const sameThreads = opts.threads === undefined || opts.threads === current.threads;
    if (!sameEngine || !sameThreads)
      throw new EngineInUseError(
        `the ${current.engine} engine (${current.threads} thread${current.threads === 1 ? '' : 's'}) is in use ` +
          `by a live predictor; cannot start ${choice}${opts.threads ? ` on ${opts.threads} threads` : ''} ` +
          `in this process: dispose that predictor first, or load with backend 'auto'`,
      );
    info = current;
  } else {
    info = await initBackend(opts);
  }
  leases++;
  let released = false;
  return {
    info,
    release: () => {
      if (!released) leases--;
      released = true;
    },
  };
}

/**
 * One line for logs, e.g. `wasm+dnnl (oneDNN 2.6.3, 2 threads, simd), tfjs 4.22.0` or
 * `wasm (2 threads, simd), tfjs 4.22.0`.
 */
export function describeBackend(): string {
  const name = tf.getBackend() ?? 'none';
  const parts: string[] = [];
  const info = current && current.name === name ? current : undefined;
  if (info?.dnnl) parts.push(`oneDNN ${info.dnnl}`);
  if (info) parts.push(`${info.threads} thread${info.threads === 1 ? '' : 's'}`);
  if (info?.precision === 'bf16') parts.push('bf16');
  if (name === 'wasm') parts.push(tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'simd' : 'no simd');
  return `${info?.engine ?? name}${parts.length ? ` (${parts.join(', ')})` : ''}, tfjs ${tf.version.tfjs}`;
}
