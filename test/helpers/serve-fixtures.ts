import { existsSync, promises as fs } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { saveLayersModelToDir } from '../../src/engine/model-io.js';
import { defaultPreprocessSpec, type PreprocessSpec } from '../../src/data/preprocess-spec.js';
import { formatLabel, type FaceResult } from '../../src/infer/types.js';
import type { FastifyInstance } from 'fastify';
import { loadPredictor, type FacePredictor } from '../../src/api/predict.js';
import { healthProbeImage } from '../../src/serve/health.js';
import { buildServer, type ServePredictor } from '../../src/serve/server.js';
import { repoRoot, tempDir } from './fixtures.js';

/**
 * Fixtures for the serve tests: a fake predictor (to test the HTTP plumbing, limits and queue without a
 * model, with control over when an inference ends) and a real serving bundle (models/default when the
 * lead has put one there, else a small untrained one built with the project's own architecture).
 */

export interface FakePredictor extends ServePredictor {
  /** Every call, in order. */
  calls: { bytes: number; detect?: boolean; minScore?: number }[];
  /** Inferences started and not yet finished. */
  running: number;
  /** When held, predictions wait for release(). */
  hold(): void;
  release(): void;
  /** The next call throws this. */
  failNext(err: Error): void;
}

/**
 * Answers one "face": the whole image as its box (so a test can check the image arrived intact) and an
 * age derived from the image's mean brightness (so different images give different answers).
 */
export function fakePredictor(
  modelDir: string,
  spec: PreprocessSpec = defaultPreprocessSpec(64),
): FakePredictor {
  let gate: { promise: Promise<void>; open: () => void } | null = null;
  let failure: Error | null = null;
  const fake: FakePredictor = {
    spec,
    modelDir,
    metrics: { fake: true },
    calls: [],
    running: 0,
    hold() {
      let open!: () => void;
      const promise = new Promise<void>((r) => (open = r));
      gate = { promise, open };
    },
    release() {
      gate?.open();
      gate = null;
    },
    failNext(err) {
      failure = err;
    },
    async predict(input, opts = {}): Promise<FaceResult[]> {
      const buf = typeof input === 'string' ? await fs.readFile(input) : input;
      // The server's health check (/healthz) is answered at once and not counted: tests count requests.
      if (buf === (await healthProbeImage())) return [fakeFace(64, 64, 50, 0.5)];
      fake.calls.push({ bytes: buf.length, detect: opts.detect, minScore: opts.minScore });
      fake.running++;
      try {
        if (gate) await gate.promise;
        if (failure) {
          const err = failure;
          failure = null;
          throw err;
        }
        const img = sharp(buf);
        const { width = 0, height = 0 } = await img.metadata();
        const { channels } = await img.stats();
        const mean = channels.slice(0, 3).reduce((s, c) => s + c.mean, 0) / 3;
        return [fakeFace(width, height, (mean / 255) * 100, mean > 127 ? 0.8 : 0.2)];
      } finally {
        fake.running--;
      }
    },
  };
  return fake;
}

function fakeFace(width: number, height: number, age: number, pMale: number): FaceResult {
  const gender = pMale >= 0.5 ? 'M' : 'F';
  return {
    box: { x: 0, y: 0, w: width, h: height },
    score: 1,
    age,
    ageSpread: 5,
    gender,
    pMale,
    pFemale: 1 - pMale,
    label: formatLabel(gender, age),
  };
}

/** Waits until `cond` holds (polling), failing after `ms`. */
export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const DEFAULT_BUNDLE = path.join(repoRoot, 'models', 'default');

export interface Bundle {
  dir: string;
  /** True for a throw-away untrained bundle (models/default is not there yet). */
  temporary: boolean;
  cleanup: () => Promise<void>;
}

/**
 * A serving bundle to load the real Predictor from: models/default if present, else an untrained
 * resnet-xs at 64 px (the project's architecture, so the browser test loads the real layer types),
 * saved the way training saves bundles: model.json + weights.bin + preprocess.json + metrics.json.
 */
export async function realBundle(): Promise<Bundle> {
  if (existsSync(path.join(DEFAULT_BUNDLE, 'model.json'))) {
    return { dir: DEFAULT_BUNDLE, temporary: false, cleanup: async () => {} };
  }
  const { dir: parent, cleanup } = await tempDir('agegender-serve-bundle-');
  const dir = path.join(parent, 'untrained');
  const { ensureBackend } = await import('../../src/infer/tf-backend.js');
  await ensureBackend('auto');
  const { buildModel } = await import('../../src/model/index.js');
  const model = buildModel('resnet-xs', { imageSize: 64, seed: 7 });
  const spec = defaultPreprocessSpec(64);
  await saveLayersModelToDir(model, dir, {
    extraFiles: {
      'preprocess.json': JSON.stringify(spec, null, 2),
      'metrics.json': JSON.stringify({ note: 'untrained test bundle', ageMae: null }, null, 2),
    },
  });
  model.dispose();
  return { dir, temporary: true, cleanup };
}

/** A fake bundle directory for the fake predictor: the files /model/* serves, plus one it must not. */
export async function fakeBundleDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const { dir, cleanup } = await tempDir('agegender-serve-fake-');
  const spec = defaultPreprocessSpec(64);
  await fs.writeFile(
    path.join(dir, 'model.json'),
    JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['./weights.bin'], weights: [] }] }),
  );
  await fs.writeFile(path.join(dir, 'weights.bin'), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
  await fs.writeFile(path.join(dir, 'preprocess.json'), JSON.stringify(spec));
  await fs.writeFile(path.join(dir, 'metrics.json'), JSON.stringify({ ageMae: 6.5 }));
  await fs.writeFile(path.join(dir, 'notes.txt'), 'not part of the bundle');
  return { dir, cleanup };
}

/** A server with the real Predictor on a real bundle, listening on 127.0.0.1 at a free port. */
export interface RealServer {
  bundle: Bundle;
  predictor: FacePredictor;
  app: FastifyInstance;
  /** e.g. http://127.0.0.1:43123 */
  base: string;
  /** Drops open connections, closes the server, frees the model and a temporary bundle. */
  close: () => Promise<void>;
}

export async function startRealServer(): Promise<RealServer> {
  const bundle = await realBundle();
  const predictor = await loadPredictor({ modelDir: bundle.dir });
  const app = await buildServer({ predictor });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
  return {
    bundle,
    predictor,
    app,
    base,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
      predictor.dispose();
      await bundle.cleanup();
    },
  };
}
