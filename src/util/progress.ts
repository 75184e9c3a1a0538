import { AsyncLocalStorage } from 'node:async_hooks';
import cliProgress from 'cli-progress';

/** One progress report to a library caller (src/api/): the bar's numbers, as data. */
export interface ProgressEvent {
  /** What is counted: "images", "steps". */
  unit: string;
  done: number;
  total: number;
  /** Units per second since the start. */
  rate: number;
  /** Seconds left at that rate (NaN before the first unit). */
  etaSeconds: number;
  /** Extra figures of the bar, e.g. the training loss. */
  fields: Record<string, string | number>;
}

export type ProgressCallback = (event: ProgressEvent) => void;

/**
 * Where a long function's progress goes: a callback (called after every unit of work with count, rate
 * and ETA), 'stderr' (a bar on a terminal, a line every 10 s on a pipe: what the CLI shows), or nowhere
 * (the default).
 */
export type ProgressOption = ProgressCallback | 'stderr';

/**
 * The library API runs a command inside `reportProgressTo(callback, ...)`; every createProgress in that
 * call (the trainer's, evaluation's, preprocessing's) then reports to the callback instead of drawing a
 * bar, without threading a callback through each of those modules' options.
 */
const progressSink = new AsyncLocalStorage<ProgressCallback>();

export function reportProgressTo<T>(
  callback: ProgressCallback | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  return callback ? progressSink.run(callback, fn) : fn();
}

export interface ProgressOptions {
  /** What is being counted, e.g. "images" or "steps". */
  unit: string;
  total: number;
  /** Machine mode: no bar, no chatter on stderr (the command prints its JSON result on stdout). */
  json?: boolean;
  /** Extra fields shown after the bar, updated with `tick`. */
  fields?: Record<string, string | number>;
}

export interface Progress {
  tick(n?: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * Progress for long commands: a bar with count, rate and ETA on a TTY; on a pipe (no TTY) a plain
 * line on stderr every 10 s; nothing at all with --json so stdout stays parsable.
 */
export function createProgress(opts: ProgressOptions): Progress {
  const stream = process.stderr;
  const start = Date.now();
  let done = 0;
  let fields: Record<string, string | number> = { ...(opts.fields ?? {}) };
  const sink = progressSink.getStore();
  if (sink) {
    const report = () => {
      const rate = done / Math.max((Date.now() - start) / 1000, 1e-3);
      const etaSeconds = done > 0 ? (opts.total - done) / rate : NaN;
      sink({ unit: opts.unit, done, total: opts.total, rate, etaSeconds, fields: { ...fields } });
    };
    return {
      tick(n = 1, f) {
        done += n;
        if (f) fields = { ...fields, ...f };
        report();
      },
      stop() {},
    };
  }
  if (opts.json) return { tick() {}, stop() {} };
  const extra = () =>
    Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join(' | ');
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `{bar} {value}/{total} ${opts.unit} | {rate}/s | ETA {eta_formatted} {extra}`,
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(opts.total, 0, { rate: '0', extra: extra() });
    return {
      tick(n = 1, f) {
        done += n;
        if (f) fields = { ...fields, ...f };
        const rate = done / Math.max((Date.now() - start) / 1000, 1e-3);
        bar.update(done, { rate: rate.toFixed(1), extra: extra() ? `| ${extra()}` : '' });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let last = start;
  const line = () => {
    const secs = (Date.now() - start) / 1000;
    const rate = done / Math.max(secs, 1e-3);
    const eta = rate > 0 ? Math.round((opts.total - done) / rate) : NaN;
    stream.write(
      `${done}/${opts.total} ${opts.unit} | ${rate.toFixed(1)}/s | ETA ${Number.isFinite(eta) ? `${eta}s` : '?'}${extra() ? ` | ${extra()}` : ''}\n`,
    );
  };
  return {
    tick(n = 1, f) {
      done += n;
      if (f) fields = { ...fields, ...f };
      if (Date.now() - last >= 10_000) {
        last = Date.now();
        line();
      }
    },
    stop() {
      line();
    },
  };
}
