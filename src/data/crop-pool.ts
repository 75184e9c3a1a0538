import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CropSettings } from './crop-frame.js';
import type { WorkerJob, WorkerResult } from './crop-worker.js';
import { loadTurboJpeg } from './jpeg-turbo.js';

/**
 * Worker threads that make crops on the fast path (crop-worker.ts), one per core beside the main thread.
 * Jobs go over in batches; crops.ts keeps two batches with each thread, so it never waits between them.
 */
export interface CropPool {
  /** Runs one batch on the next free thread; results in the batch's order. */
  run(jobs: WorkerJob[]): Promise<WorkerResult[]>;
  /** Threads there are. */
  size: number;
  close(): Promise<void>;
}

/**
 * Why the fast path is off, or null when it may run: AGEGENDER_JPEG=sharp asks for sharp throughout
 * (to compare, or to rule the fast path out), and without libturbojpeg there is none.
 */
export function fastPathOff(): string | null {
  if (process.env.AGEGENDER_JPEG === 'sharp') return 'AGEGENDER_JPEG=sharp';
  const tj = loadTurboJpeg();
  return 'reason' in tj ? tj.reason : null;
}

/** The worker's file: crop-worker.ts when running from source (tsx), crop-worker.js once built. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const ts = here.replace(/crop-pool\.[jt]s$/, 'crop-worker.ts');
  return here.endsWith('.ts') && existsSync(ts) ? ts : here.replace(/crop-pool\.[jt]s$/, 'crop-worker.js');
}

export function startCropPool(settings: CropSettings, threads = os.availableParallelism()): CropPool {
  const workers = Array.from(
    { length: Math.max(1, threads) },
    () => new Worker(workerFile(), { workerData: { cropWorker: true, settings } }),
  );
  const pending = new Map<number, { resolve(r: WorkerResult[]): void; reject(e: unknown): void }>();
  let nextId = 0;
  for (const w of workers) {
    w.on('message', (msg: { id: number; results: WorkerResult[] }) => {
      pending.get(msg.id)?.resolve(msg.results);
      pending.delete(msg.id);
    });
    w.on('error', (err) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
  }
  const busy = new Array<number>(workers.length).fill(0);
  return {
    size: workers.length,
    run(jobs) {
      const i = busy.indexOf(Math.min(...busy));
      busy[i]!++;
      const id = nextId++;
      return new Promise<WorkerResult[]>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        workers[i]!.postMessage({ id, jobs });
      }).finally(() => busy[i]!--);
    },
    async close() {
      // Asked to leave, not terminated: a thread stopped while it loads koffi's native module aborts the
      // whole process (napi_throw during the addon's registration).
      await Promise.all(
        workers.map((w) => {
          const gone = new Promise((resolve) => w.once('exit', resolve));
          w.postMessage({ close: true });
          return gone;
        }),
      );
    },
  };
}
