import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CropSettings } from './job.js';
import type { WorkerJob, WorkerResult } from './worker.js';

/**
 * Worker threads that make crops on the fast path (worker.ts), one per core beside the main thread.
 * Jobs go over in batches; write-crops.ts keeps two batches with each thread, so it never waits between them.
 */
export interface CropPool {
  /** Runs one batch on the next free thread; results in the batch's order. */
  run(jobs: WorkerJob[]): Promise<WorkerResult[]>;
  /** Threads there are. */
  size: number;
  close(): Promise<void>;
}

/** The worker's file: worker.ts when running from source (tsx), worker.js once built. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const ts = here.replace(/pool\.[jt]s$/, 'worker.ts');
  return here.endsWith('.ts') && existsSync(ts) ? ts : here.replace(/pool\.[jt]s$/, 'worker.js');
}

export function startCropPool(settings: CropSettings, threads = os.availableParallelism()): CropPool {
  // Per thread: its replies awaited, and why it is gone (an error, or an exit), after which it takes no work.
  const threadsUp = Array.from({ length: Math.max(1, threads) }, () => {
    const worker = new Worker(workerFile(), { workerData: { cropWorker: true, settings } });
    const t = {
      worker,
      busy: 0,
      gone: null as Error | null,
      pending: new Map<number, { resolve(r: WorkerResult[]): void; reject(e: unknown): void }>(),
      exited: new Promise<void>((resolve) => worker.once('exit', () => resolve())),
    };
    const fail = (err: Error) => {
      t.gone ??= err;
      for (const p of t.pending.values()) p.reject(t.gone);
      t.pending.clear();
    };
    worker.on('message', (msg: { id: number; results: WorkerResult[] }) => {
      t.pending.get(msg.id)?.resolve(msg.results);
      t.pending.delete(msg.id);
    });
    worker.on('error', fail);
    worker.on('exit', () => fail(new Error('a crop thread ended')));
    return t;
  });
  let nextId = 0;
  return {
    size: threadsUp.length,
    run(jobs) {
      const live = threadsUp.filter((t) => !t.gone);
      if (live.length === 0) return Promise.reject(threadsUp[0]!.gone);
      const t = live.reduce((a, b) => (b.busy < a.busy ? b : a));
      t.busy++;
      const id = nextId++;
      return new Promise<WorkerResult[]>((resolve, reject) => {
        t.pending.set(id, { resolve, reject });
        t.worker.postMessage({ id, jobs });
      }).finally(() => t.busy--);
    },
    async close() {
      // Asked to leave, not terminated: a thread stopped while it loads koffi's native module aborts the
      // whole process (napi_throw during the addon's registration).
      for (const t of threadsUp) if (!t.gone) t.worker.postMessage({ close: true });
      await Promise.all(threadsUp.map((t) => t.exited));
    },
  };
}
