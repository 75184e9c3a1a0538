import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { Ajv } from 'ajv';
import sharp from 'sharp';
import { FACE_SCHEMA } from '../src/api/face-schema.js';
import {
  EngineInUseError,
  InvalidImageError,
  loadPredictor,
  PredictorDisposedError,
  type FacePredictor,
  type LoadProgress,
  type PredictProgress,
} from '../src/index.js';
import { pickUtkface, repoRoot, utkfaceDir } from './helpers/fixtures.js';
import { makeGroupPhotos } from './helpers/predict-photos.js';

// The library as a guest in someone else's process (issue 24): inputs JS developers have (tensors, file:
// URLs), control (AbortSignal, progress, crops, async dispose), one engine per process that a second
// predictor cannot switch under the first, nothing on stdout, the environment left as it was.

const crops = pickUtkface(3, 5).map((s) => path.join(utkfaceDir, s.file));
const crop = crops[0]!;

describe('the library as a guest', { timeout: 240_000 }, () => {
  let predictor: FacePredictor;
  let group: Buffer;

  before(async () => {
    predictor = await loadPredictor({ threads: 1 });
    group = (await makeGroupPhotos(1))[0]!.jpeg;
  });
  after(() => predictor?.dispose());

  test('a tfjs tensor (int32 or float32, RGB or RGBA) and a file: URL give the same face as the path', async () => {
    const [want] = await predictor.predict(crop, { detect: false });
    const { data, info } = await sharp(crop).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const rgba = await sharp(crop).ensureAlpha().raw().toBuffer();
    const tensors = [
      tf.tensor3d(new Int32Array(data), [info.height, info.width, 3], 'int32'),
      tf.tensor3d(Float32Array.from(rgba), [info.height, info.width, 4], 'float32'),
    ];
    try {
      for (const t of tensors) assert.deepEqual((await predictor.predict(t, { detect: false }))[0], want);
    } finally {
      tf.dispose(tensors);
    }
    assert.deepEqual((await predictor.predict(pathToFileURL(crop), { detect: false }))[0], want);
    const bad = tf.zeros([4, 4]);
    const err = await predictor.predict(bad as never).catch((e: unknown) => e);
    bad.dispose();
    assert.ok(err instanceof InvalidImageError);
    assert.match(err.message, /^input 1: not a readable image: a tensor must be \[height, width, 3\]/);
    const web = await predictor.predict(new URL('https://example.com/a.jpg')).catch((e: unknown) => e);
    assert.ok(web instanceof InvalidImageError && /only file: URLs/.test(web.message));
  });

  test('faces follow the face JSON Schema; crop: true adds the network input, kept out otherwise', async () => {
    const valid = new Ajv({ strict: true }).compile(FACE_SCHEMA);
    const faces = await predictor.predict(group);
    assert.ok(faces.length >= 2);
    for (const f of faces) assert.ok(valid(f), JSON.stringify(valid.errors));
    const withCrops = await predictor.predict(group, { crop: true });
    const size = predictor.spec.imageSize;
    withCrops.forEach((f, i) => {
      const { crop: c, ...face } = f;
      assert.deepEqual(face, faces[i]);
      assert.deepEqual([c!.width, c!.height, c!.data.length], [size, size, size * size * 3]);
    });
  });

  test('signal: an aborted signal rejects with its reason; onProgress reports load stages and images', async () => {
    const stages: LoadProgress[] = [];
    const p = await loadPredictor({ threads: 1, onProgress: (e) => stages.push(e) });
    await p.dispose();
    assert.deepEqual(
      stages.map((s) => [s.stage, s.done, s.total]),
      [
        ['engine', 1, 2],
        ['model', 2, 2],
      ],
    );
    const aborted = AbortSignal.abort();
    await assert.rejects(loadPredictor({ signal: aborted }), { name: 'AbortError' });
    await assert.rejects(predictor.predict(crop, { signal: aborted }), { name: 'AbortError' });
    // Aborted while running: it stops between images.
    const controller = new AbortController();
    const seen: PredictProgress[] = [];
    const run = predictor.predictEach(crops, {
      detect: false,
      signal: controller.signal,
      onProgress: (e) => {
        seen.push(e);
        if (e.done === 1) controller.abort();
      },
    });
    await assert.rejects(run, { name: 'AbortError' });
    assert.deepEqual(seen, [{ done: 1, total: 3 }]);
    const progress: PredictProgress[] = [];
    await predictor.predictEach(crops, { detect: false, onProgress: (e) => progress.push(e) });
    assert.deepEqual(
      progress.map((e) => e.done),
      [1, 2, 3],
    );
  });

  test('a second predictor joins the running engine; another backend is refused and the first is untouched', async () => {
    const [before] = await predictor.predict(crop, { detect: false });
    const engine = predictor.engine;
    const err = await loadPredictor({ backend: 'cpu' }).catch((e: unknown) => e);
    assert.ok(err instanceof EngineInUseError, String(err));
    assert.equal(err.code, 'engine_in_use');
    const second = await loadPredictor({ backend: 'auto' });
    assert.equal(second.engine, engine);
    await second.dispose();
    assert.equal(predictor.engine, engine);
    assert.deepEqual((await predictor.predict(crop, { detect: false }))[0], before);
  });

  test('dispose() with predictions in flight lets them finish, then refuses new ones with a typed error', async () => {
    const p = await loadPredictor({ threads: 1 });
    const inFlight = p.predictEach([group, ...crops]);
    const disposed = p.dispose();
    const out = await inFlight;
    assert.equal(out.length, 4);
    assert.ok(out.every((o) => o.ok && o.faces.length >= 1));
    await disposed;
    const err = await p.predict(crop).catch((e: unknown) => e);
    assert.ok(err instanceof PredictorDisposedError, String(err));
    const q = await loadPredictor({ threads: 1 });
    await q[Symbol.asyncDispose]();
    assert.ok((await q.predict(crop).catch((e: unknown) => e)) instanceof PredictorDisposedError);
  });

  test('in a fresh process: nothing on stdout, OMP_WAIT_POLICY left unset, cpu after wasm once disposed', async () => {
    const script = `
      import { loadPredictor } from ${JSON.stringify(path.join(repoRoot, 'src', 'index.ts'))};
      const before = process.env.OMP_WAIT_POLICY;
      const a = await loadPredictor();
      const fa = await a.predict(${JSON.stringify(crop)}, { detect: false });
      const envAfter = process.env.OMP_WAIT_POLICY;
      await a.dispose();
      const b = await loadPredictor({ backend: 'cpu' });
      const fb = await b.predict(${JSON.stringify(crop)}, { detect: false });
      await b.dispose();
      process.stderr.write(JSON.stringify({ before, envAfter, engines: [a.engine, b.engine],
        ages: [fa[0].age, fb[0].age] }));`;
    const file = path.join(repoRoot, 'tmp', `guest-${process.pid}.mts`);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, script);
    try {
      const env = { ...process.env };
      delete env.OMP_WAIT_POLICY;
      const { stdout, stderr, code } = await run(process.execPath, ['--import', 'tsx', file], env);
      assert.equal(code, 0, stderr);
      assert.equal(stdout, '', 'the library printed on stdout');
      const r = JSON.parse(stderr.slice(stderr.indexOf('{')));
      assert.equal(r.before, undefined);
      assert.equal(r.envAfter, undefined, 'OMP_WAIT_POLICY set in the host process');
      assert.match(r.engines[1], /^cpu/);
      assert.ok(Math.abs(r.ages[0] - r.ages[1]) < 0.1, `ages ${r.ages}`);
    } finally {
      await fs.rm(file, { force: true });
    }
  });
});

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}
