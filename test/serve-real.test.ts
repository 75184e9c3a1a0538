import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { iou } from '../src/infer/crop-rule.js';
import { Ajv } from 'ajv';
import { FACE_SCHEMA } from '../src/api/face-schema.js';
import type { FacePredictor } from '../src/api/predict.js';
import { pickUtkface, repoRoot, utkfaceDir } from './helpers/fixtures.js';
import { makeGroupPhoto } from './helpers/predict-photos.js';
import { realBundle, startRealServer, type Bundle, type RealServer } from './helpers/serve-fixtures.js';
import { runCli } from './helpers/spawn-cli.js';

// The API with the real Predictor (models/default, or an untrained bundle of the project's architecture
// when the trained one is not there yet), over a real socket, on real UTKFace faces: the answer must be
// exactly what the predictor says for the same bytes.

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('serve with the real predictor', () => {
  let bundle: Bundle;
  let predictor: FacePredictor;
  let base: string;

  let server: RealServer | undefined;

  before(async () => {
    server = await startRealServer();
    ({ bundle, predictor, base } = server);
  });
  after(async () => {
    await server?.close();
  });

  test('a UTKFace crop (detect=false) gets the predictor answer, M/NN or F/NN', async () => {
    const [sample] = pickUtkface(1, 3);
    const jpeg = readFileSync(path.join(utkfaceDir, sample!.file));
    const res = await fetch(`${base}/v1/predict?detect=false`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: jpeg,
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Json;
    assert.equal(body.model, path.basename(bundle.dir));
    assert.equal(body.faces.length, 1);
    const face = body.faces[0];
    assert.match(face.label, /^[MF]\/\d{1,3}$/);
    assert.ok(face.age >= 0 && face.age <= 100, `age ${face.age}`);
    assert.ok(face.ageSpread > 0);
    assert.ok(face.pMale >= 0 && face.pMale <= 1);
    assert.deepEqual(face.box, { x: 0, y: 0, w: 200, h: 200 });
    // The real predictor's faces over HTTP follow the shared face schema, pFemale included.
    const validate = new Ajv({ strict: false }).compile(FACE_SCHEMA);
    assert.ok(validate(face), JSON.stringify(validate.errors));

    const [direct] = await predictor.predict(jpeg, { detect: false });
    assert.equal(face.label, direct!.label);
    assert.ok(Math.abs(face.age - direct!.age) < 0.01, `${face.age} vs ${direct!.age}`);
    assert.ok(Math.abs(face.pMale - direct!.pMale) < 1e-3);
  });

  test('a composite photo with two faces (multipart, detection on) finds both where they are', async () => {
    const photo = await makeGroupPhoto({
      sizes: [200, 180],
      samples: pickUtkface(2, 11),
      background: 'plain',
    });
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(photo.jpeg)], { type: 'image/jpeg' }), 'group.jpg');
    const res = await fetch(`${base}/v1/predict`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Json;
    assert.equal(body.faces.length, 2, JSON.stringify(body));
    for (const placed of photo.faces) {
      const best = Math.max(...body.faces.map((f: Json) => iou(f.box, placed.region)));
      assert.ok(best > 0.3, `no box over the face placed at ${JSON.stringify(placed.region)}`);
    }
    const direct = await predictor.predict(photo.jpeg);
    assert.deepEqual(
      body.faces.map((f: Json) => f.label),
      direct.map((f) => f.label),
    );
    // The page's in-browser mode reads the detector and crop rule the server applies from /v1/model.
    const model = (await (await fetch(`${base}/v1/model`)).json()) as Json;
    assert.equal(model.detector, predictor.detector);
    assert.deepEqual(model.faceCrop, predictor.faceCrop);
    assert.deepEqual(model.preprocess, predictor.spec);
  });
});

describe('agegender serve (the command)', () => {
  test('starts on a free port, answers, and exits 0 on SIGTERM', async () => {
    const bundle = await realBundle();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(repoRoot, 'test', 'helpers', 'run-cli.ts'),
        'serve',
        '--port',
        '0',
        '--model-dir',
        bundle.dir,
        '--queue',
        '4',
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let stderr = '';
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (d) => {
          stderr += d;
          const m = / at (http:\/\/127\.0\.0\.1:\d+)\//.exec(stderr);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      });
      const health = (await (await fetch(`${url}/healthz`)).json()) as Json;
      assert.equal(health.queue.maxWaiting, 4, '--queue reaches the server');
      const jpeg = readFileSync(path.join(utkfaceDir, pickUtkface(1, 5)[0]!.file));
      const res = await fetch(`${url}/v1/predict?detect=false`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: jpeg,
      });
      assert.equal(res.status, 200);
      assert.match(((await res.json()) as Json).faces[0].label, /^[MF]\/\d+$/);
      const exited = new Promise<number | null>((r) => child.on('exit', r));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      // One JSON log line per request on stdout.
      assert.match(stdout, /"url":"\/v1\/predict\?detect=false"/);
    } finally {
      child.kill('SIGKILL');
      await bundle.cleanup();
    }
  });

  test('a bad flag is a one-line error and a non-zero exit', async () => {
    const run = await runCli(['serve', '--port', 'http']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr.trim(), /^agegender: --port "http": expected an integer/);
    assert.equal(run.stderr.trim().split('\n').length, 1);
  });
});
