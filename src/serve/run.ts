import type { ServeLimits } from './server.js';
import { buildServer } from './server.js';

export interface RunServeOptions {
  port: number;
  host: string;
  modelDir?: string;
  backend?: string;
  detector?: string;
  limits?: Partial<ServeLimits>;
  /** Request log lines (pino JSON) on stdout. */
  log?: boolean;
}

/**
 * `agegender serve`: loads the model once, listens, and closes cleanly on SIGINT/SIGTERM (in-flight
 * requests finish; a container stop does not cut answers in half).
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
  const address = await app.listen({ port: opts.port, host: opts.host });
  for (const w of predictor.warnings) console.error(`agegender: warning: ${w}`);
  // One plain line for people (the JSON log lines follow): where to point a browser or curl.
  console.error(
    `agegender: serving model ${predictor.modelDir} at ${address}/ (API: ${address}/openapi.json) on ${predictor.engine}`,
  );

  let closing = false;
  const close = (signal: string) => {
    if (closing) return;
    closing = true;
    console.error(`agegender: ${signal}, closing`);
    app.close().then(
      () => {
        predictor.dispose?.();
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => close('SIGINT'));
  process.once('SIGTERM', () => close('SIGTERM'));
}
