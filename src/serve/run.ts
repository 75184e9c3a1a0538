import type { ServeLimits } from './server.js';
import { buildServer } from './server.js';
import { closeWithDeadline } from './shutdown.js';
import { UserError } from '../util/errors.js';

export interface RunServeOptions {
  port: number;
  host: string;
  modelDir?: string;
  backend?: string;
  detector?: string;
  limits?: Partial<ServeLimits>;
  /** Request log lines (pino JSON) on stdout. */
  log?: boolean;
  /** On SIGINT/SIGTERM, how long requests in flight may take before their connections are cut. */
  shutdownTimeoutS?: number;
}

/** Below the 30 s most container runtimes wait between SIGTERM and SIGKILL. */
export const DEFAULT_SHUTDOWN_TIMEOUT_S = 10;

/**
 * `agegender serve`: loads the model once, listens, and closes cleanly on SIGINT/SIGTERM (in-flight
 * requests finish, up to a deadline; a container stop does not cut answers in half, and a hung client
 * cannot keep the process up).
 */
export async function runServe(opts: RunServeOptions): Promise<void> {
  const { Predictor } = await import('../infer/predictor.js');
  const predictor = await Predictor.load({
    modelDir: opts.modelDir,
    backend: opts.backend,
    detector: opts.detector,
  });
  const app = await buildServer({
    predictor,
    limits: opts.limits,
    logger: opts.log === false ? false : { level: 'info' },
  });
  let address: string;
  try {
    address = await app.listen({ port: opts.port, host: opts.host });
  } catch (err) {
    predictor.dispose?.();
    const code = (err as NodeJS.ErrnoException).code;
    const where = `${opts.host}:${opts.port}`;
    if (code === 'EADDRINUSE')
      throw new UserError(`${where} is already in use: pick another --port (0 picks a free one)`);
    if (code === 'EACCES')
      throw new UserError(
        `${where}: permission denied (ports below 1024 need privileges): pick another --port`,
      );
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
      throw new UserError(`--host ${opts.host}: not an address of this machine`);
    throw err;
  }
  for (const w of predictor.warnings) console.error(`agegender: warning: ${w}`);
  // One plain line for people (the JSON log lines follow): where to point a browser or curl.
  console.error(
    `agegender: serving model ${predictor.modelDir} at ${address}/ (API: ${address}/openapi.json) on ${predictor.engine}`,
  );

  let closing = false;
  const close = (signal: string) => {
    if (closing) return;
    closing = true;
    const graceS = opts.shutdownTimeoutS ?? DEFAULT_SHUTDOWN_TIMEOUT_S;
    console.error(`agegender: ${signal}, closing (requests in flight get ${graceS} s to finish)`);
    closeWithDeadline(app, graceS * 1000).then(
      ({ cut }) => {
        if (cut > 0) console.error(`agegender: cut ${cut} connections still open after ${graceS} s`);
        predictor.dispose?.();
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => close('SIGINT'));
  process.once('SIGTERM', () => close('SIGTERM'));
}
