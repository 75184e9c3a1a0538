import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { BUNDLE_FILES } from '../data/bundle-format.js';
import { DETECTOR_MANIFEST } from '../infer/detector-options.js';
import { HttpError } from './http-error.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** src/serve and dist/serve are both two levels below the package root. */
export const packageRoot = path.resolve(here, '..', '..');

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
export function bundleFiles(modelDir: string): string[] {
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

/**
 * The page (webDir), its browser build, the detector weights and the bundle's files for the in-browser
 * mode. metrics.json is not sent from disk: `metrics` is the copy without local paths.
 */
export async function registerStaticRoutes(
  app: FastifyInstance,
  opts: { webDir: string; modelDir: string; modelFiles: string[]; metrics: unknown },
): Promise<void> {
  const detectorWeightsDir = faceApiModelDir();
  await app.register(fastifyStatic, {
    root: opts.webDir,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    cacheControl: true,
    maxAge: 0,
  });
  const hide = { schema: { hide: true } };
  app.get<{ Params: { file: string } }>('/lib/:file', hide, (req, reply) => {
    if (!WEB_BUILD_FILE.test(req.params.file)) return reply.callNotFound();
    if (!existsSync(path.join(WEB_BUILD_DIR, req.params.file))) {
      const err = new HttpError(404, 'not_found', `/lib/${req.params.file} is not built: run npm run build`);
      return reply.code(404).send(err.body());
    }
    return reply.sendFile(req.params.file, WEB_BUILD_DIR, { maxAge: 0 });
  });
  app.get<{ Params: { file: string } }>('/vendor/face-api-model/:file', hide, (req, reply) => {
    if (!FACE_API_MODEL_FILE.test(req.params.file)) return reply.callNotFound();
    return reply.sendFile(req.params.file, detectorWeightsDir, { maxAge: 86_400_000 });
  });
  app.get<{ Params: { file: string } }>('/model/:file', hide, (req, reply) => {
    const file = req.params.file;
    if (!opts.modelFiles.includes(file)) return reply.callNotFound();
    if (file === BUNDLE_FILES.metrics) {
      if (opts.metrics === null || opts.metrics === undefined) return reply.callNotFound();
      return reply.header('cache-control', 'public, max-age=0').send(opts.metrics);
    }
    return reply.sendFile(file, opts.modelDir, { maxAge: 0 });
  });
}
