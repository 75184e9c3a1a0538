import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { loadPredictor, type FacePredictor } from '../api/predict.js';
import { resolveOptions } from '../util/option-schema.js';
import { ModelError, UserError } from '../util/errors.js';
import { limitsOf, SERVE_OPTIONS, type ServeOptions } from './options.js';

export interface RunningServer {
  /** e.g. `http://127.0.0.1:8080` (the port picked when `port: 0`). */
  readonly url: string;
  readonly port: number;
  /** The loaded model: its folder, engine and warnings. */
  readonly predictor: FacePredictor;
  /**
   * Stops accepting connections, lets requests in flight finish for up to `shutdownTimeout` seconds, cuts
   * what is still open, frees the model. Resolves with the number of connections that had to be cut.
   */
  close(): Promise<{ cut: number }>;
}

/**
 * The HTTP API (POST /v1/predict, GET /v1/model, /healthz, /openapi.json) and the web page, listening.
 * The model must answer a test prediction before the server listens: a model with broken (NaN) weights
 * is refused with a ModelError instead of a server that says ok and fails every request.
 *
 * @example
 * import { serve } from 'agegender';
 * const server = await serve({ port: 0, log: false });
 * console.log(`listening on ${server.url}`);
 * // ... later
 * await server.close();
 */
export async function serve(options: ServeOptions = {}): Promise<RunningServer> {
  const opts = resolveOptions('serve', SERVE_OPTIONS, options);
  // Loaded on first call: importing the library must not load fastify and sharp.
  const [{ HealthCheck }, { buildServer }, { closeWithDeadline }] = await Promise.all([
    import('./health.js'),
    import('./server.js'),
    import('./shutdown.js'),
  ]);
  const predictor = await loadPredictor({
    modelDir: opts.modelDir,
    backend: opts.backend,
    threads: opts.threads,
    detector: opts.detector,
    maxPixels: opts.maxPixels,
  });
  try {
    const health = await new HealthCheck((image, o) => predictor.predict(image, o)).check();
    if (!health.ok) {
      const why = health.why.includes(predictor.modelDir)
        ? health.why
        : `${predictor.modelDir}: ${health.why}`;
      throw new ModelError(`${why} (the model failed its start-up check: not serving)`);
    }
    const app = await buildServer({
      predictor,
      limits: limitsOf(opts),
      logger: opts.log ? { level: 'info' } : false,
    });
    await listen(app, opts.port, opts.host);
    const { port } = app.server.address() as AddressInfo;
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    return {
      url: `http://${host}:${port}`,
      port,
      predictor,
      async close() {
        try {
          return await closeWithDeadline(app, opts.shutdownTimeout * 1000);
        } finally {
          predictor.dispose();
        }
      },
    };
  } catch (err) {
    predictor.dispose();
    throw err;
  }
}

async function listen(app: FastifyInstance, port: number, host: string): Promise<void> {
  try {
    await app.listen({ port, host });
  } catch (err) {
    await app.close();
    const code = (err as NodeJS.ErrnoException).code;
    const where = `${host}:${port}`;
    if (code === 'EADDRINUSE')
      throw new UserError(`${where} is already in use: pick another --port (0 picks a free one)`);
    if (code === 'EACCES')
      throw new UserError(
        `${where}: permission denied (ports below 1024 need privileges): pick another --port`,
      );
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
      throw new UserError(`--host ${host}: not an address of this machine`);
    throw err;
  }
}
