import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyMultipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { BUNDLE_FILES } from '../data/bundle-format.js';
import { DEFAULT_DETECTOR, DETECTOR_MANIFEST } from '../infer/detector-options.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import type { FaceResult } from '../infer/types.js';
import { ModelError, UserError } from '../util/errors.js';
import { parseDecimal } from '../util/decimal.js';
import { round } from '../util/round.js';
import { HttpError, toHttpError } from './http-error.js';
import { checkImage } from './image-check.js';
import { openApiDocument } from './openapi.js';
import { InferenceQueue } from './queue.js';

/**
 * What the server needs from a predictor: src/infer/predictor.ts's Predictor satisfies it, and tests can
 * pass a fake (to control timing for the queue tests) without loading a model.
 */
export interface ServePredictor {
  predict(input: string | Buffer, opts?: { detect?: boolean; minScore?: number }): Promise<FaceResult[]>;
  readonly spec: PreprocessSpec;
  readonly modelDir: string;
  readonly metrics: unknown;
  /** The detector the predictor runs (the page's in-browser mode runs the same one). */
  readonly detectorName?: string;
  /** The crop rule the predictor applies to detector boxes (the bundle's, or its fallback). */
  readonly faceCrop?: { scale: number; dx: number; dy: number } | null;
}

export interface ServeLimits {
  /** Largest request body (raw or multipart file), bytes. */
  maxBodyBytes: number;
  /** Largest image, width * height read from its header before decoding. */
  maxPixels: number;
  /** Inferences running at once. */
  concurrency: number;
  /** Requests waiting for an inference slot; one more gets 503. */
  queue: number;
}

/**
 * Defaults: 10 MiB covers any phone photo; 40 Mpx is a 7,300 x 5,500 photo (about 120 MB of RGB once
 * decoded); one inference at a time since the model already uses the one CPU backend fully; a queue of
 * 16 holds a burst of a few seconds at ~0.1-0.3 s per image.
 */
export const DEFAULT_LIMITS: ServeLimits = {
  maxBodyBytes: 10 * 1024 * 1024,
  maxPixels: 40_000_000,
  concurrency: 1,
  queue: 16,
};

export interface BuildServerOptions {
  predictor: ServePredictor;
  limits?: Partial<ServeLimits>;
  /** Shown as `model` in answers; the bundle directory's name by default. */
  modelName?: string;
  /** The detector the predictor uses, when it does not say (predictor.detectorName). */
  detector?: string;
  /** Fastify's logger option (false in tests, pino JSON lines for `agegender serve`). */
  logger?: FastifyServerOptions['logger'];
  /** Directory of the web page (index.html, app.js, style.css); the repo's web/ by default. */
  webDir?: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** src/serve and dist/serve are both two levels below the package root. */
const packageRoot = path.resolve(here, '..', '..');

function packageVersion(): string {
  try {
    return JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * The library's browser entry (dist/web/: agegender.js and the tfjs wasm binaries, built by `npm run
 * build`) under /lib/, and face-api's detector weights (inside that npm package) under
 * /vendor/face-api-model/: the page works offline and without a CDN.
 */
const WEB_BUILD_DIR = path.join(packageRoot, 'dist', 'web');
const WEB_BUILD_FILE = /^(agegender\.js|tfjs-backend-wasm(-simd|-threaded-simd)?\.wasm)$/;

function faceApiModelDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve(`@vladmandic/face-api/model/${DETECTOR_MANIFEST['ssd-mobilenetv1']}`));
}

/** The detector weights the page may fetch (the face-api package ships more models than we use). */
const FACE_API_MODEL_FILE = /^(ssd_mobilenetv1|tiny_face_detector)_model(-weights_manifest\.json|\.bin)$/;

/** model.json, the weight files its manifest names, and the two JSON sidecars: all the page may fetch. */
function bundleFiles(modelDir: string): string[] {
  const files = new Set<string>([BUNDLE_FILES.model, BUNDLE_FILES.preprocess, BUNDLE_FILES.metrics]);
  try {
    const json = JSON.parse(readFileSync(path.join(modelDir, BUNDLE_FILES.model), 'utf8'));
    for (const group of json.weightsManifest ?? []) {
      for (const p of group.paths ?? []) files.add(path.posix.normalize(String(p)).replace(/^\.\//, ''));
    }
  } catch {
    // A predictor that loaded its model some other way: the page's in-browser mode will say it failed.
  }
  return [...files].filter((f) => !f.includes('/') && !f.startsWith('.'));
}

function parseBool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  const v = String(value).toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new HttpError(400, 'invalid_parameter', `${name} must be true or false, not "${String(value)}"`);
}

function parseScore(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = parseDecimal(String(value)) ?? NaN;
  if (!(n >= 0 && n <= 1)) {
    throw new HttpError(
      400,
      'invalid_parameter',
      `minScore must be a number in [0, 1], not "${String(value)}"`,
    );
  }
  return n;
}

/** The API's face: FaceResult without pFemale (1 - pMale), numbers rounded to what is meaningful. */
function apiFace(f: FaceResult) {
  return {
    box: { x: round(f.box.x, 1), y: round(f.box.y, 1), w: round(f.box.w, 1), h: round(f.box.h, 1) },
    score: round(f.score, 4),
    age: round(f.age, 2),
    ageSpread: round(f.ageSpread, 2),
    gender: f.gender,
    pMale: round(f.pMale, 4),
    label: f.label,
  };
}

/**
 * The HTTP API and the web page. The predictor is injected (loaded by the caller), so this is fast to
 * build and easy to test; `agegender serve` (src/serve/run.ts) loads the real one and listens.
 */
export async function buildServer(opts: BuildServerOptions): Promise<FastifyInstance> {
  const limits: ServeLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const { predictor } = opts;
  const modelName = opts.modelName ?? path.basename(path.resolve(predictor.modelDir));
  const detector =
    predictor.detectorName ?? opts.detector ?? predictor.spec.faceCrop?.detector ?? DEFAULT_DETECTOR;
  // What the page's in-browser mode must apply to a detector box to cut the same crop as the server.
  const faceCrop = predictor.faceCrop ?? predictor.spec.faceCrop ?? null;
  const webDir = opts.webDir ?? path.join(packageRoot, 'web');
  const queue = new InferenceQueue(limits.concurrency, limits.queue);
  const startedAt = Date.now();
  const modelFiles = bundleFiles(predictor.modelDir);
  const detectorWeightsDir = faceApiModelDir();
  const openapi = openApiDocument({
    version: packageVersion(),
    maxBodyBytes: limits.maxBodyBytes,
    maxPixels: limits.maxPixels,
  });

  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: limits.maxBodyBytes,
    // A slow client cannot hold a connection (and its buffered body) forever.
    requestTimeout: 60_000,
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
    let httpErr = toHttpError(err);
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
    if (httpErr.statusCode >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code: httpErr.code, status: httpErr.statusCode }, httpErr.message);
    void reply.code(httpErr.statusCode).headers(httpErr.headers).send(httpErr.body());
  });
  // Answers are JSON or files of known types: browsers must not second-guess them.
  app.addHook('onSend', async (_req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
  });

  const apiMethods: Record<string, string> = {
    '/v1/predict': 'POST',
    '/v1/model': 'GET, HEAD',
    '/healthz': 'GET, HEAD',
    '/openapi.json': 'GET, HEAD',
  };
  app.setNotFoundHandler((req, reply) => {
    const url = req.url.split('?')[0]!;
    const allow = apiMethods[url];
    if (allow) {
      const err = new HttpError(405, 'method_not_allowed', `${req.method} ${url}: use ${allow}`);
      return reply.code(405).header('allow', allow).send(err.body());
    }
    const err = new HttpError(404, 'not_found', `no route ${req.method} ${url}`);
    return reply.code(404).send(err.body());
  });

  app.get('/healthz', async () => ({
    status: 'ok',
    model: modelName,
    uptimeS: Math.round((Date.now() - startedAt) / 1000),
    queue: queue.stats,
  }));

  app.get('/v1/model', async () => ({
    name: modelName,
    detector,
    faceCrop,
    preprocess: predictor.spec,
    metrics: predictor.metrics ?? null,
    files: modelFiles.map((f) => `/model/${f}`),
  }));

  app.get('/openapi.json', async () => openapi);

  app.post('/v1/predict', async (req, reply) => {
    const t0 = performance.now();
    const fields: Record<string, unknown> = { ...(req.query as Record<string, unknown>) };
    let image: Buffer | undefined;
    if (req.isMultipart()) {
      try {
        for await (const part of req.parts()) {
          if (part.type === 'file') {
            // Read every file part (toBuffer enforces fileSize); keep the first one named `image`.
            const buf = await part.toBuffer();
            if (part.fieldname === 'image' && !image) image = buf;
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
      if (!image) throw new HttpError(400, 'missing_image', 'multipart form has no file field "image"');
    } else if (Buffer.isBuffer(req.body)) {
      image = req.body;
    } else {
      throw new HttpError(400, 'missing_image', 'send the image as the body or as multipart field "image"');
    }
    const detect = parseBool(fields.detect, 'detect', true);
    const minScore = parseScore(fields.minScore);
    await checkImage(image, limits.maxPixels);

    // A client that hangs up while waiting gives its slot back.
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort(new Error('client closed the connection'));
    });
    const input = image;
    const faces = await queue.run(async () => {
      try {
        return await predictor.predict(input, { detect, minScore });
      } catch (err) {
        // The predictor's user-facing errors are about the image (all else stays a 500).
        if (err instanceof ModelError) throw new HttpError(500, 'internal_error', err.message);
        if (err instanceof UserError) throw new HttpError(422, 'invalid_image', err.message);
        throw err;
      }
    }, gone.signal);
    return { faces: faces.map(apiFace), model: modelName, ms: round(performance.now() - t0, 1) };
  });

  // The page, its vendored browser libraries, and the bundle for the in-browser mode.
  await app.register(fastifyStatic, {
    root: webDir,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    cacheControl: true,
    maxAge: 0,
  });
  app.get<{ Params: { file: string } }>('/lib/:file', (req, reply) => {
    if (!WEB_BUILD_FILE.test(req.params.file)) return reply.callNotFound();
    if (!existsSync(path.join(WEB_BUILD_DIR, req.params.file))) {
      const err = new HttpError(
        404,
        'not_found',
        `${path.join(WEB_BUILD_DIR, req.params.file)} is not built: run npm run build`,
      );
      return reply.code(404).send(err.body());
    }
    return reply.sendFile(req.params.file, WEB_BUILD_DIR, { maxAge: 0 });
  });
  app.get<{ Params: { file: string } }>('/vendor/face-api-model/:file', (req, reply) => {
    if (!FACE_API_MODEL_FILE.test(req.params.file)) return reply.callNotFound();
    return reply.sendFile(req.params.file, detectorWeightsDir, { maxAge: 86_400_000 });
  });
  app.get<{ Params: { file: string } }>('/model/:file', (req, reply) => {
    if (!modelFiles.includes(req.params.file)) return reply.callNotFound();
    return reply.sendFile(req.params.file, predictor.modelDir, { maxAge: 0 });
  });

  return app;
}
