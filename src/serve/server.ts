import { readFileSync } from 'node:fs';
import path from 'node:path';
import fastifyMultipart from '@fastify/multipart';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import type { Face } from '../api/predict.js';
import type { FaceCropRule, PreprocessSpec } from '../data/preprocess-spec.js';
import { DEFAULT_DETECTOR } from '../infer/detector-options.js';
import { InvalidOptionError, ModelError, UserError } from '../util/errors.js';
import { round } from '../util/round.js';
import {
  HEALTH_ROUTE_SCHEMA,
  MODEL_ROUTE_SCHEMA,
  OPENAPI_ROUTE_SCHEMA,
  PREDICT_BODY,
  predictRouteSchema,
} from './api-schemas.js';
import { HealthCheck } from './health.js';
import { DEFAULT_LIMITS, type ServeLimits } from './options.js';
import { clientError, HttpError, rawErrorResponse, toHttpError } from './http-error.js';
import { checkImage } from './image-check.js';
import { parameterError } from './parameter-error.js';
import { publicMetrics } from './public-metrics.js';
import { InferenceQueue } from './queue.js';
import { bundleFiles, packageRoot, registerStaticRoutes } from './static-routes.js';

/**
 * What the server needs from a predictor: the library's FacePredictor (src/api/predict.ts) satisfies
 * it, and tests pass a fake (to control timing for the queue tests) without loading a model.
 */
export interface ServePredictor {
  predict(input: string | Buffer, opts?: { detect?: boolean; minScore?: number }): Promise<Face[]>;
  readonly spec: PreprocessSpec;
  readonly modelDir: string;
  readonly metrics: unknown;
  /** The detector the predictor runs (the page's in-browser mode runs the same one). */
  readonly detector?: string;
  /** The crop rule the predictor applies to detector boxes (the bundle's, or its fallback). */
  readonly faceCrop?: FaceCropRule | null;
}

export interface BuildServerOptions {
  predictor: ServePredictor;
  limits?: Partial<ServeLimits>;
  /** Shown as `model` in answers; the bundle directory's name by default. */
  modelName?: string;
  /** Fastify's logger option (false in tests, pino JSON lines for `agegender serve`). */
  logger?: FastifyServerOptions['logger'];
  /** Directory of the web page (index.html, app.js, style.css); the package's web/ by default. */
  webDir?: string;
}

function packageVersion(): string {
  try {
    return JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The API's face: the predictor's, numbers rounded to what is meaningful. */
function apiFace(f: Face): Face {
  return {
    box: { x: round(f.box.x, 1), y: round(f.box.y, 1), w: round(f.box.w, 1), h: round(f.box.h, 1) },
    score: round(f.score, 4),
    age: round(f.age, 2),
    ageSpread: round(f.ageSpread, 2),
    gender: f.gender,
    pMale: round(f.pMale, 4),
    pFemale: round(f.pFemale, 4),
    label: f.label,
  };
}

/** The query's parameters as sent (text; a repeated one as its list), for validation and messages. */
function rawQuery(url: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  const params = new URLSearchParams(url.split('?')[1] ?? '');
  for (const key of new Set(params.keys())) {
    const all = params.getAll(key);
    out[key] = all.length === 1 ? all[0]! : all;
  }
  return out;
}

const API_METHODS: Record<string, string> = {
  '/v1/predict': 'POST',
  '/v1/model': 'GET, HEAD',
  '/healthz': 'GET, HEAD',
  '/openapi.json': 'GET, HEAD',
};

/**
 * The HTTP API and the web page. The predictor is injected (loaded by the caller), so this is fast to
 * build and easy to test; `serve()` (src/serve/serve.ts) loads the real one and listens.
 */
export async function buildServer(opts: BuildServerOptions): Promise<FastifyInstance> {
  const limits: ServeLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const { predictor } = opts;
  const modelName = opts.modelName ?? path.basename(path.resolve(predictor.modelDir));
  const detector = predictor.detector ?? predictor.spec.faceCrop?.detector ?? DEFAULT_DETECTOR;
  // What the page's in-browser mode must apply to a detector box to cut the same crop as the server.
  const faceCrop = predictor.faceCrop ?? predictor.spec.faceCrop ?? null;
  const metrics = publicMetrics(predictor.metrics ?? null);
  // A message about the model (a ModelError) names its folder: the client sees the model's name instead.
  const localDirs = [...new Set([path.resolve(predictor.modelDir), predictor.modelDir])].filter(Boolean);
  const hidePaths = (text: string) => localDirs.reduce((t, d) => t.split(d).join(modelName), text);
  const queue = new InferenceQueue(limits.concurrency, limits.queue);
  const health = new HealthCheck((image, o) => predictor.predict(image, o));
  const startedAt = Date.now();
  const ms = (s: number) => Math.round(s * 1000);

  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: limits.maxBodyBytes,
    requestTimeout: ms(limits.requestTimeoutS),
    keepAliveTimeout: ms(limits.keepAliveTimeoutS),
    connectionTimeout: ms(limits.idleTimeoutS),
    http: {
      headersTimeout: ms(Math.min(limits.headersTimeoutS, limits.requestTimeoutS)),
      requestTimeout: ms(limits.requestTimeoutS),
      // Node checks the two timeouts above only this often (30 s by default, which let a half-sent upload
      // stay open up to 30 s past its timeout).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, ms(limits.requestTimeoutS) / 2)),
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true } },
    // Errors Node's parser raises before a request exists: the API's shape, then the connection closes.
    clientErrorHandler(err, socket) {
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) socket.write(rawErrorResponse(clientError(err as NodeJS.ErrnoException, limits)));
      socket.destroy();
    },
    // A URL fastify cannot decode (`/%zz`): the API's shape too.
    frameworkErrors(err, _req, reply) {
      const httpErr = new HttpError(400, 'bad_request', `malformed URL: ${err.message}`);
      void (reply as FastifyReply).code(400).send(httpErr.body());
    },
  });
  app.server.maxConnections = limits.maxConnections;

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'agegender',
        version: packageVersion(),
        description:
          'Age and gender of the faces in a photo. Each face has the `M/46`-style label, the DEX age ' +
          'expectation and its spread, p(male) and p(female). Errors are `{error: {code, message}}`.',
      },
    },
    // /v1/predict's body is binary, checked by image-check.ts: described here, not validated by a schema.
    transform: ({ schema, url }) => ({
      schema: url === '/v1/predict' ? ({ ...schema, body: PREDICT_BODY } as typeof schema) : schema,
      url,
    }),
  });

  // Only image bodies (and multipart, below) are accepted: JSON, text or a missing content type is 415.
  app.removeAllContentTypeParsers();
  for (const type of [/^image\/[a-z0-9.+-]+\s*(;.*)?$/i, 'application/octet-stream']) {
    app.addContentTypeParser(
      type,
      { parseAs: 'buffer', bodyLimit: limits.maxBodyBytes },
      (_req, body, done) => done(null, body),
    );
  }
  await app.register(fastifyMultipart, {
    limits: { fileSize: limits.maxBodyBytes, files: 1, fields: 8, fieldSize: 1024, parts: 10 },
  });

  app.setErrorHandler((err, req, reply) => {
    let httpErr: HttpError;
    const validation = (err as { validation?: unknown[] }).validation;
    if (validation) {
      httpErr = parameterError(validation, rawQuery(req.url));
    } else {
      httpErr = toHttpError(err);
      // Fastify's own texts ("Unsupported Media Type") do not say what to do instead.
      if (httpErr.code === 'unsupported_media_type' && !(err instanceof HttpError)) {
        const type = req.headers['content-type'] ?? 'none';
        httpErr = new HttpError(
          415,
          httpErr.code,
          `content type "${type}" is not accepted: send an image/* body, application/octet-stream, ` +
            'or multipart/form-data with the file in field "image"',
        );
      } else if (httpErr.code === 'body_too_large' && !(err instanceof HttpError)) {
        httpErr = new HttpError(413, httpErr.code, `body is over the limit of ${limits.maxBodyBytes} bytes`);
      }
    }
    if (httpErr.statusCode >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code: httpErr.code, status: httpErr.statusCode }, httpErr.message);
    void reply.code(httpErr.statusCode).headers(httpErr.headers).send(httpErr.body());
  });
  // Answers are JSON or files of known types: browsers must not second-guess them.
  app.addHook('onSend', async (_req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
  });

  app.setNotFoundHandler((req, reply) => {
    const url = req.url.split('?')[0]!;
    const allow = API_METHODS[url];
    if (allow) {
      const err = new HttpError(405, 'method_not_allowed', `${req.method} ${url}: use ${allow}`);
      return reply.code(405).header('allow', allow).send(err.body());
    }
    const err = new HttpError(404, 'not_found', `no route ${req.method} ${url}`);
    return reply.code(404).send(err.body());
  });

  app.get('/healthz', { schema: HEALTH_ROUTE_SCHEMA }, async () => {
    const result = await health.check();
    if (!result.ok) {
      throw new HttpError(503, 'model_error', `the model does not answer: ${hidePaths(result.why)}`);
    }
    return {
      status: 'ok' as const,
      model: modelName,
      uptimeS: Math.round((Date.now() - startedAt) / 1000),
      checkedS: round((Date.now() - result.checkedAt) / 1000, 1),
      queue: queue.stats,
    };
  });

  const modelFiles = bundleFiles(predictor.modelDir);
  app.get('/v1/model', { schema: MODEL_ROUTE_SCHEMA }, async () => ({
    name: modelName,
    detector,
    faceCrop,
    preprocess: predictor.spec,
    metrics,
    files: modelFiles.map((f) => `/model/${f}`),
  }));

  app.get('/openapi.json', { schema: OPENAPI_ROUTE_SCHEMA }, async () => app.swagger());

  app.post('/v1/predict', { schema: predictRouteSchema(limits) }, async (req, reply) => {
    const t0 = performance.now();
    let params = req.query as { detect: boolean; minScore?: number };
    let image: Buffer | undefined;
    if (req.isMultipart()) {
      const fields: Record<string, unknown> = Object.create(null);
      let imageAsText = false;
      try {
        for await (const part of req.parts()) {
          if (part.type === 'file') {
            // Read every file part (toBuffer enforces fileSize); keep the first one named `image`.
            const buf = await part.toBuffer();
            if (part.fieldname === 'image' && !image) image = buf;
          } else if (part.fieldname === 'image') {
            imageAsText = true;
          } else {
            fields[part.fieldname] = part.value;
          }
        }
      } catch (err) {
        // The multipart parser's own errors (a form cut short, no closing boundary) carry no status:
        // they are the client's malformed body, not a server failure.
        if (typeof (err as { statusCode?: unknown }).statusCode === 'number') throw err;
        throw new HttpError(400, 'bad_request', `malformed multipart body: ${(err as Error).message}`);
      }
      // Form fields are the same parameters as the query's, checked by the same schema.
      const merged: Record<string, unknown> = { ...rawQuery(req.url), ...fields };
      const raw = { ...merged };
      const validate = req.getValidationFunction('querystring')!;
      if (!validate(merged)) throw parameterError(validate.errors ?? [], raw);
      params = merged as typeof params;
      if (!image) {
        const why = imageAsText ? 'field "image" is text, not a file' : 'no file field "image"';
        throw new HttpError(400, 'missing_image', `multipart form has ${why}`);
      }
    } else if (Buffer.isBuffer(req.body)) {
      image = req.body;
    } else {
      throw new HttpError(400, 'missing_image', 'send the image as the body or as multipart field "image"');
    }
    await checkImage(image, limits.maxPixels);

    // A client that hangs up while waiting gives its slot back.
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort(new Error('client closed the connection'));
    });
    const input = image;
    const faces = await queue.run(async () => {
      try {
        return await predictor.predict(input, { detect: params.detect, minScore: params.minScore });
      } catch (err) {
        // The predictor's user-facing errors are about the image (all else stays a 500).
        if (err instanceof ModelError) throw new HttpError(500, 'model_error', hidePaths(err.message));
        if (err instanceof InvalidOptionError) throw new HttpError(400, 'invalid_parameter', err.message);
        if (err instanceof UserError) throw new HttpError(422, 'invalid_image', hidePaths(err.message));
        throw err;
      }
    }, gone.signal);
    return { faces: faces.map(apiFace), model: modelName, ms: round(performance.now() - t0, 1) };
  });

  await registerStaticRoutes(app, {
    webDir: opts.webDir ?? path.join(packageRoot, 'web'),
    modelDir: predictor.modelDir,
    modelFiles,
    metrics,
  });
  return app;
}
