import { HttpError } from './http-error.js';

/**
 * Bounds the number of inferences running at once and the number waiting for a slot. The model runs on
 * one CPU backend in this process, so extra parallelism only adds memory and latency; a short queue
 * absorbs bursts, and beyond it the server answers 503 at once (with a Retry-After estimate) instead of
 * letting requests pile up until memory runs out or clients time out.
 */
export class InferenceQueue {
  private running = 0;
  private readonly waiting: Array<{ start: () => void; cancel: (err: unknown) => void }> = [];
  /** Exponential moving average of one task's duration (ms), for Retry-After. */
  private avgMs = 500;

  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
  ) {
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new Error('concurrency must be >= 1');
    if (!(Number.isInteger(maxWaiting) && maxWaiting >= 0)) throw new Error('queue must be >= 0');
  }

  get stats(): { running: number; waiting: number; concurrency: number; maxWaiting: number } {
    return {
      running: this.running,
      waiting: this.waiting.length,
      concurrency: this.concurrency,
      maxWaiting: this.maxWaiting,
    };
  }

  /** Seconds a client should wait before retrying: the time to drain what is queued now. */
  retryAfterSeconds(): number {
    const backlog = this.running + this.waiting.length;
    return Math.max(1, Math.ceil((backlog * this.avgMs) / this.concurrency / 1000));
  }

  /**
   * Runs `task` when a slot is free. Rejects with a 503 HttpError when the queue is full, and drops a
   * waiting task whose `signal` aborts (the client went away) without running it.
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) {
        const retry = this.retryAfterSeconds();
        throw new HttpError(
          503,
          'busy',
          `server busy: ${this.running} inference(s) running and ${this.waiting.length} waiting; retry in ${retry} s`,
          { 'retry-after': String(retry) },
        );
      }
      await new Promise<void>((resolve, reject) => {
        const entry = { start: resolve, cancel: reject };
        this.waiting.push(entry);
        signal?.addEventListener(
          'abort',
          () => {
            const i = this.waiting.indexOf(entry);
            if (i >= 0) {
              this.waiting.splice(i, 1);
              reject(signal.reason ?? new Error('aborted'));
            }
          },
          { once: true },
        );
      });
    } else {
      this.running++;
    }
    // A slot is ours here (either free at once, or handed over by the task that finished).
    const t0 = performance.now();
    try {
      return await task();
    } finally {
      this.avgMs = 0.8 * this.avgMs + 0.2 * (performance.now() - t0);
      const next = this.waiting.shift();
      if (next) next.start();
      else this.running--;
    }
  }
}
