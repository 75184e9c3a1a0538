import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tfjs.js';
import { writeFileAtomic } from '../util/atomic.js';

/**
 * Multithreaded tfjs-backend-wasm in Node. The package ships a threaded SIMD build (XNNPACK on a
 * pthread pool) but keeps it off in Node: its WASM_HAS_MULTITHREAD_SUPPORT flag is hard-coded false
 * there, its pthread workers are started from `blob:` URLs that Node's Worker rejects, and its C++
 * caps the pool at cpus/2 (1 thread on a 2-core machine). We start that build ourselves:
 * - the worker script (shipped as a JS string) is written once to a file in the temp directory;
 * - the main script is handed to the workers as a file path instead of a Blob;
 * - emscripten_num_logical_cores, the only input of that cap, is answered with 2 x threads;
 * and register the result as the 'wasm' backend, so every wasm kernel (ours included) runs on it.
 * This leans on the internals of one exact release, so it runs only on that one (checked at run
 * time; anything else falls back to the stock single-threaded backend with a notice).
 */
export const THREADED_WASM_VERSION = '4.22.0';
/** The C++ side's own ceiling (tfjs-backend-wasm backend.cc max_num_threads; 8 pre-created workers). */
export const MAX_WASM_THREADS = 8;

const require = createRequire(import.meta.url);

interface NodeWorker {
  terminate(): void;
  unref(): void;
}

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread: { unusedWorkers: unknown[]; runningWorkers: unknown[] };
  tfjs?: Record<string, unknown>;
}

/** Why the threaded build cannot be used here, or null when it can. */
export async function threadedWasmUnsupported(wasmVersion: string): Promise<string | null> {
  if (wasmVersion !== THREADED_WASM_VERSION || tf.version.tfjs !== THREADED_WASM_VERSION) {
    return (
      `tfjs ${tf.version.tfjs} / tfjs-backend-wasm ${wasmVersion} is not the ${THREADED_WASM_VERSION} ` +
      'whose threading we know how to start'
    );
  }
  if (typeof SharedArrayBuffer === 'undefined') return 'this Node has no SharedArrayBuffer';
  // Registered by tfjs-backend-wasm (a feature test of a tiny SIMD module).
  if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) return 'this Node has no WebAssembly SIMD';
  return null;
}

function packageRoot(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

/**
 * Stand-in for the pool workers XNNPACK will never use: the module pre-starts 8 workers and waits for
 * each to load the whole wasm module, which costs seconds of start-up; a stand-in just says "loaded"
 * and is terminated once the backend exists.
 */
const STANDIN_SOURCE =
  "'use strict';const{parentPort}=require('worker_threads');" +
  "parentPort.on('message',(m)=>{if(m&&m.cmd==='load')parentPort.postMessage({cmd:'loaded'})});\n";

/** Writes `source` to a file in the temp directory (once per content) and returns its path. */
async function tempScript(name: string, source: string): Promise<string> {
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `agegender-tfjs-wasm-${THREADED_WASM_VERSION}-${name}-${hash}.cjs`);
  const existing = await fs.readFile(file, 'utf8').catch(() => null);
  if (existing !== source) await writeFileAtomic(file, source);
  return file;
}

/** Writes the pthread worker script to a file Node's Worker can start (once per content). */
async function workerScriptPath(root: string): Promise<string> {
  const { wasmWorkerContents } = require(
    path.join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js'),
  ) as {
    wasmWorkerContents: string;
  };
  // The string holds raw newlines inside JS string literals (the package escapes them the same way
  // before making its Blob).
  const source = wasmWorkerContents.replace(/\n/g, '\\n');
  return tempScript('worker', source);
}

type WasmPackage = typeof import('@tensorflow/tfjs-backend-wasm');

interface WorkerScripts {
  workerScript: string;
  standinScript: string;
}

/** Writes the two worker scripts (once per content) and returns their paths. */
export async function prepareWorkerScripts(): Promise<WorkerScripts> {
  const [workerScript, standinScript] = await Promise.all([
    workerScriptPath(packageRoot()),
    tempScript('standin', STANDIN_SOURCE),
  ]);
  return { workerScript, standinScript };
}

/**
 * Creates the threaded emscripten module with `threads` XNNPACK threads (the calling thread is one).
 * Exported for tests; `installThreadedWasmBackend` is the normal entry.
 */
export async function createThreadedWasmModule(
  wasm: WasmPackage,
  threads: number,
  scripts?: WorkerScripts,
): Promise<EmscriptenModule> {
  const root = packageRoot();
  const mainScript = path.join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const binary = path.join(root, 'dist', 'tfjs-backend-wasm-threaded-simd.wasm');
  const [{ workerScript, standinScript }, compiled] = await Promise.all([
    scripts ?? prepareWorkerScripts(),
    fs.readFile(binary).then((bytes) => WebAssembly.compile(bytes)),
  ]);
  const factory = require(mainScript) as (config: object) => Promise<EmscriptenModule>;
  wasm.setThreadsCount(threads);
  // The pool's first workers are popped last: make the first (8 - needed) stand-ins.
  let standins = MAX_WASM_THREADS - (threads - 1);
  const module = await factory({
    locateFile: (file: string, prefix: string) => {
      if (file.endsWith('.worker.js')) return standins-- > 0 ? standinScript : workerScript;
      return file.endsWith('.wasm') ? binary : prefix + file;
    },
    // Workers importScripts() this: a path works in Node, the package's Blob does not.
    mainScriptUrlOrBlob: mainScript,
    instantiateWasm: (
      info: { env: Record<string, unknown> },
      receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
    ) => {
      // The C++ caps its pool at this / 2.
      info.env.emscripten_num_logical_cores = () => 2 * threads;
      // Synchronous, so that a failure rejects the module's ready promise (emscripten catches it).
      const instance = new WebAssembly.Instance(compiled, info as WebAssembly.Imports);
      receive(instance, compiled);
      return instance.exports;
    },
  });
  // The same bridge tfjs-backend-wasm's init() adds (backend_wasm.js, 4.22.0).
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  return module;
}

export interface BackendFactoryEntry {
  factory: () => tfTypes.KernelBackend | Promise<tfTypes.KernelBackend>;
  priority: number;
}

function engineRegistry() {
  return tf.engine() as unknown as {
    registry: Record<string, unknown>;
    registryFactory: Record<string, BackendFactoryEntry>;
  };
}

/**
 * Replaces the registered 'wasm' backend factory with the threaded one, before the backend starts.
 * Returns the stock factory (to put back with `restoreStockWasmBackend` if the start fails), or the
 * reason it could not, leaving the stock one in place.
 */
export async function installThreadedWasmBackend(
  wasm: WasmPackage,
  threads: number,
): Promise<{ stock: BackendFactoryEntry } | { reason: string }> {
  const unsupported = await threadedWasmUnsupported(wasm.version_wasm);
  if (unsupported) return { reason: unsupported };
  let scripts: WorkerScripts;
  try {
    scripts = await prepareWorkerScripts();
  } catch (err) {
    return {
      reason: `cannot write its worker scripts to ${os.tmpdir()}: ${(err as Error).message.split('\n')[0]}`,
    };
  }
  const engine = engineRegistry();
  if (engine.registry.wasm) return { reason: 'the wasm backend was already started' };
  const stock = engine.registryFactory.wasm;
  if (!stock) return { reason: 'the wasm backend is not registered' };
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      const module = await createThreadedWasmModule(wasm, threads, scripts);
      // BackendWasm's constructor creates the XNNPACK pool with the count set above, taking its
      // workers from the pool; what is left are the stand-ins.
      const backend = new wasm.BackendWasm(module as never);
      for (const worker of module.PThread.unusedWorkers.splice(0)) (worker as NodeWorker).terminate();
      // Pool threads idle forever between kernels; emscripten ref()s their workers, which would keep
      // the process from ever exiting.
      for (const worker of module.PThread.runningWorkers) (worker as NodeWorker).unref();
      return backend;
    },
    stock.priority,
  );
  return { stock };
}

export function restoreStockWasmBackend(stock: BackendFactoryEntry): void {
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', stock.factory, stock.priority);
}

/** Threads of the running wasm backend's XNNPACK pool (the calling thread included); 0 if not running. */
export function runningWasmThreads(): number {
  const backend = engineRegistry().registry.wasm as
    { wasm?: { tfjs: { getThreadsCount(): number } } } | undefined;
  return backend?.wasm ? backend.wasm.tfjs.getThreadsCount() : 0;
}

/** pthread workers the running wasm backend has busy (XNNPACK's pool threads); for tests. */
export function busyWasmWorkers(): number {
  const backend = engineRegistry().registry.wasm as { wasm?: Partial<EmscriptenModule> } | undefined;
  return backend?.wasm?.PThread?.runningWorkers.length ?? 0;
}
