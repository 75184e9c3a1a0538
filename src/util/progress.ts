import cliProgress from 'cli-progress';

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
  if (opts.json) return { tick() {}, stop() {} };
  const start = Date.now();
  let done = 0;
  let fields: Record<string, string | number> = { ...(opts.fields ?? {}) };
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
