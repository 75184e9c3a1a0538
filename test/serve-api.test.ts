import assert from 'node:assert/strict';
import { readFileSync, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { Ajv } from 'ajv';
import { FACE_SCHEMA } from '../src/api/face-schema.js';
import type { FastifyInstance } from 'fastify';
import { InferenceQueue } from '../src/serve/queue.js';
import { buildServer } from '../src/serve/server.js';
import { ModelError, UserError } from '../src/util/errors.js';
import { pickUtkface, repoRoot, utkfaceDir } from './helpers/fixtures.js';
import { fakeBundleDir, fakePredictor, waitFor, type FakePredictor } from './helpers/serve-fixtures.js';
import { ensureWebBuild } from './helpers/web-build.js';

// The HTTP API over fastify's inject (and one real socket), with a fake predictor: routes, every limit
// and error code, the queue. The real model answers in serve-real.test.ts.

const faces = pickUtkface(2);
const jpeg = readFileSync(path.join(utkfaceDir, faces[0]!.file));
const jpeg2 = readFileSync(path.join(utkfaceDir, faces[1]!.file));

async function multipart(
  fields: Record<string, string>,
  files: Record<string, { data: Buffer; type: string }>,
): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  for (const [k, f] of Object.entries(files))
    form.append(k, new Blob([new Uint8Array(f.data)], { type: f.type }), `${k}.bin`);
  const req = new Request('http://localhost/', { method: 'POST', body: form });
  return {
    payload: Buffer.from(await req.arrayBuffer()),
    headers: { 'content-type': req.headers.get('content-type')! },
  };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function stripIds(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripIds);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => k !== '$id')
      .map(([k, x]) => [k, stripIds(x)]),
  );
}

function errorOf(res: { statusCode: number; body: string }): {
  status: number;
  code: string;
  message: string;
} {
  const body = JSON.parse(res.body) as Json;
  assert.equal(typeof body.error?.code, 'string', `no {error:{code}} in ${res.body}`);
  assert.ok(body.error.message.length > 10, `message too short: ${res.body}`);
  return { status: res.statusCode, code: body.error.code, message: body.error.message };
}

describe('serve API (fake predictor)', () => {
  let app: FastifyInstance;
  let fake: FakePredictor;
  let bundle: { dir: string; cleanup: () => Promise<void> };

  before(async () => {
    bundle = await fakeBundleDir();
    fake = fakePredictor(bundle.dir);
    app = await buildServer({ predictor: fake, limits: { maxBodyBytes: 64 * 1024, maxPixels: 4_000_000 } });
  });
  after(async () => {
    await app.close();
    await bundle.cleanup();
  });

  test('POST /v1/predict with a raw JPEG body answers faces, model and ms', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/predict?detect=false&minScore=0.3',
      headers: { 'content-type': 'image/jpeg' },
      payload: jpeg,
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = JSON.parse(res.body) as Json;
    assert.equal(body.model, path.basename(bundle.dir));
    assert.ok(body.ms >= 0);
    assert.equal(body.faces.length, 1);
    const face = body.faces[0];
    // The fake's box is the decoded image: the bytes arrived intact.
    assert.deepEqual(face.box, { x: 0, y: 0, w: 200, h: 200 });
    assert.match(face.label, /^[MF]\/\d+$/);
    for (const key of ['age', 'ageSpread', 'pMale', 'score']) assert.equal(typeof face[key], 'number');
    assert.ok(face.gender === 'M' || face.gender === 'F');
    const call = fake.calls.at(-1)!;
    assert.deepEqual(call, { bytes: jpeg.length, detect: false, minScore: 0.3 });
  });

  test('POST /v1/predict with a multipart form (field image, form fields) and octet-stream', async () => {
    const form = await multipart({ detect: 'false' }, { image: { data: jpeg2, type: 'image/jpeg' } });
    const res = await app.inject({ method: 'POST', url: '/v1/predict', ...form });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(fake.calls.at(-1), { bytes: jpeg2.length, detect: false, minScore: undefined });
    const a = JSON.parse(res.body) as Json;

    const raw = await app.inject({
      method: 'POST',
      url: '/v1/predict',
      headers: { 'content-type': 'application/octet-stream' },
      payload: jpeg,
    });
    assert.equal(raw.statusCode, 200, raw.body);
    assert.equal(fake.calls.at(-1)!.detect, true, 'detect defaults to true');
    // Two different faces, two different answers: the server does not mix up bodies.
    assert.notEqual(a.faces[0].age, (JSON.parse(raw.body) as Json).faces[0].age);
  });

  test('GET /healthz, /v1/model and the bundle files under /model/', async () => {
    const health = JSON.parse((await app.inject('/healthz')).body) as Json;
    assert.equal(health.status, 'ok');
    assert.deepEqual(health.queue, { running: 0, waiting: 0, concurrency: 1, maxWaiting: 16 });

    const model = JSON.parse((await app.inject('/v1/model')).body) as Json;
    const onDisk = (f: string) => fs.readFile(path.join(bundle.dir, f));
    assert.deepEqual(model.preprocess, JSON.parse(String(await onDisk('preprocess.json'))));
    assert.deepEqual(model.metrics, fake.metrics);
    assert.equal(model.detector, 'ssd-mobilenetv1');
    assert.deepEqual(model.files.sort(), [
      '/model/metrics.json',
      '/model/model.json',
      '/model/preprocess.json',
      '/model/weights.bin',
    ]);
    for (const f of ['model.json', 'weights.bin', 'preprocess.json']) {
      const res = await app.inject(`/model/${f}`);
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.rawPayload, await onDisk(f));
    }
    // Only the bundle's files: not other files of the directory, not a way out of it.
    for (const url of ['/model/notes.txt', '/model/..%2Fpackage.json', '/model/%2e%2e/package.json']) {
      assert.equal((await app.inject(url)).statusCode, 404, url);
    }
  });

  test('the page, the browser entry and its wasm binaries are served', async () => {
    await ensureWebBuild();
    const page = await app.inject('/');
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    for (const src of ['/app.js', '/style.css']) {
      assert.ok(page.body.includes(src), `the page does not load ${src}`);
    }
    const script = await app.inject('/app.js');
    assert.ok(script.body.includes("'/lib/agegender.js'"), 'the page does not import the browser entry');
    const types: Record<string, RegExp> = {
      '/app.js': /javascript/,
      '/style.css': /text\/css/,
      '/lib/agegender.js': /javascript/,
      // WebAssembly.instantiateStreaming needs this exact type.
      '/lib/tfjs-backend-wasm-simd.wasm': /^application\/wasm/,
      '/lib/tfjs-backend-wasm.wasm': /^application\/wasm/,
    };
    for (const [url, type] of Object.entries(types)) {
      const res = await app.inject(url);
      assert.equal(res.statusCode, 200, url);
      assert.match(res.headers['content-type'] as string, type, url);
    }
    // Only the build's own files under /lib/.
    for (const url of ['/lib/index.d.ts', '/lib/..%2Fcli%2Fmain.js']) {
      assert.equal((await app.inject(url)).statusCode, 404, url);
    }
    const manifest = await app.inject('/vendor/face-api-model/ssd_mobilenetv1_model-weights_manifest.json');
    assert.equal(manifest.statusCode, 200);
    const shard = (JSON.parse(manifest.body) as Json[])[0]!.paths[0] as string;
    assert.equal((await app.inject(`/vendor/face-api-model/${shard}`)).statusCode, 200);
    // face-api ships other models; only the detectors are served.
    assert.equal((await app.inject('/vendor/face-api-model/age_gender_model.bin')).statusCode, 404);
  });

  test('GET /openapi.json is generated from the route schemas and describes exactly the API routes', async () => {
    const doc = JSON.parse((await app.inject('/openapi.json')).body) as Json;
    assert.match(doc.openapi, /^3\.1\./);
    const described: string[] = [];
    for (const [url, item] of Object.entries(doc.paths as Json)) {
      for (const method of Object.keys(item as Json)) {
        described.push(`${method.toUpperCase()} ${url}`);
        assert.ok(
          app.hasRoute({ method: method.toUpperCase() as 'GET', url }),
          `${method} ${url} is not a route`,
        );
      }
    }
    assert.deepEqual(described.sort(), [
      'GET /healthz',
      'GET /openapi.json',
      'GET /v1/model',
      'POST /v1/predict',
    ]);
    const predict = doc.paths['/v1/predict'].post;
    // The face is the shared FACE_SCHEMA (src/api/face-schema.ts), not a second hand-written copy.
    const face = predict.responses['200'].content['application/json'].schema.properties.faces.items;
    assert.deepEqual(face, stripIds(FACE_SCHEMA));
    // The query parameters are the ones the server validates with, minScore's range included.
    const minScore = predict.parameters.find((p: Json) => p.name === 'minScore');
    assert.deepEqual(minScore.schema, { type: 'number', minimum: 0, exclusiveMaximum: 1 });
    assert.ok(predict.requestBody.content['multipart/form-data'].schema.properties.image);
    assert.ok(predict.requestBody.content['image/jpeg']);
    // Each error code the server can answer is listed in the error schemas.
    const codes = predict.responses['400'].content['application/json'].schema.properties.error.properties.code
      .enum as string[];
    for (const c of ['body_too_large', 'image_too_large', 'truncated_image', 'busy', 'header_too_large']) {
      assert.ok(codes.includes(c), c);
    }
  });

  test("the API's faces validate against FACE_SCHEMA (ajv), pFemale included", async () => {
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(FACE_SCHEMA);
    for (const img of [jpeg, jpeg2]) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/predict?detect=false',
        headers: { 'content-type': 'image/jpeg' },
        payload: img,
      });
      assert.equal(res.statusCode, 200, res.body);
      for (const face of (JSON.parse(res.body) as Json).faces) {
        assert.ok(validate(face), JSON.stringify(validate.errors));
        assert.ok(Math.abs(face.pMale + face.pFemale - 1) < 1e-3, JSON.stringify(face));
      }
    }
  });

  describe('limits and bad requests: a JSON error, and the model is never called', () => {
    const cases: { name: string; status: number; code: string; make: () => Promise<object> }[] = [
      {
        name: 'raw body over --max-body-mb',
        status: 413,
        code: 'body_too_large',
        make: async () => ({
          headers: { 'content-type': 'image/png' },
          // Noise does not compress: ~190 kB of PNG, over the 64 kB limit of this server.
          payload: await sharp(randomBytes(250 * 250 * 3), { raw: { width: 250, height: 250, channels: 3 } })
            .png()
            .toBuffer(),
        }),
      },
      {
        name: 'multipart file over --max-body-mb',
        status: 413,
        code: 'body_too_large',
        make: () => multipart({}, { image: { data: Buffer.alloc(100 * 1024, 7), type: 'image/jpeg' } }),
      },
      {
        name: 'decompression bomb: 3000x3000 px in a few kB of PNG',
        status: 413,
        code: 'image_too_large',
        make: async () => ({
          headers: { 'content-type': 'image/png' },
          payload: await sharp({ create: { width: 3000, height: 3000, channels: 3, background: '#777' } })
            .png()
            .toBuffer(),
        }),
      },
      {
        name: 'JSON body',
        status: 415,
        code: 'unsupported_media_type',
        make: async () => ({ headers: { 'content-type': 'application/json' }, payload: '{"image":"x"}' }),
      },
      {
        name: 'text body',
        status: 415,
        code: 'unsupported_media_type',
        make: async () => ({ headers: { 'content-type': 'text/plain' }, payload: 'hello' }),
      },
      {
        name: 'no content type',
        status: 415,
        code: 'unsupported_media_type',
        make: async () => ({ payload: jpeg }),
      },
      {
        name: 'SVG (rendered, not decoded)',
        status: 415,
        code: 'unsupported_image_format',
        make: async () => ({
          headers: { 'content-type': 'image/svg+xml' },
          payload:
            '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        }),
      },
      {
        name: 'text sent as image/jpeg',
        status: 422,
        code: 'invalid_image',
        make: async () => ({
          headers: { 'content-type': 'image/jpeg' },
          payload: 'this is not a JPEG at all',
        }),
      },
      {
        name: 'truncated JPEG',
        status: 422,
        code: 'truncated_image',
        make: async () => ({
          headers: { 'content-type': 'image/jpeg' },
          payload: jpeg.subarray(0, jpeg.length >> 1),
        }),
      },
      {
        name: 'truncated PNG',
        status: 422,
        code: 'truncated_image',
        make: async () => {
          const png = await sharp(jpeg).png().toBuffer();
          return { headers: { 'content-type': 'image/png' }, payload: png.subarray(0, png.length >> 1) };
        },
      },
      {
        name: 'empty body',
        status: 400,
        code: 'missing_image',
        make: async () => ({ headers: { 'content-type': 'image/jpeg' }, payload: Buffer.alloc(0) }),
      },
      {
        name: 'multipart without an image field',
        status: 400,
        code: 'missing_image',
        make: () => multipart({ detect: 'false' }, { photo: { data: jpeg, type: 'image/jpeg' } }),
      },
      {
        name: 'multipart with image as a text field',
        status: 400,
        code: 'missing_image',
        make: () => multipart({ image: 'not a file' }, {}),
      },
      {
        name: 'detect=maybe',
        status: 400,
        code: 'invalid_parameter',
        make: async () => ({
          url: '/v1/predict?detect=maybe',
          headers: { 'content-type': 'image/jpeg' },
          payload: jpeg,
        }),
      },
      {
        name: 'minScore=2',
        status: 400,
        code: 'invalid_parameter',
        make: async () => ({
          url: '/v1/predict?minScore=2',
          headers: { 'content-type': 'image/jpeg' },
          payload: jpeg,
        }),
      },
      // Once silently ignored (the detector's default was used), or a 422 invalid_image for every photo.
      ...[
        'minScore[]=0.5',
        'minScore=',
        'minScore=1',
        'minscore=0.5',
        'detect=',
        'minScore=0.5&minScore=0.6',
      ].map((query) => ({
        name: query,
        status: 400,
        code: 'invalid_parameter',
        make: async () => ({
          url: `/v1/predict?${query}`,
          headers: { 'content-type': 'image/jpeg' },
          payload: jpeg,
        }),
      })),
      {
        name: 'multipart field minScore=1 (the form is checked by the same schema)',
        status: 400,
        code: 'invalid_parameter',
        make: () => multipart({ minScore: '1' }, { image: { data: jpeg, type: 'image/jpeg' } }),
      },
    ];
    for (const c of cases) {
      test(`${c.name} -> ${c.status} ${c.code}`, async () => {
        const before = fake.calls.length;
        const req = await c.make();
        const res = await app.inject({ method: 'POST', url: '/v1/predict', ...req });
        const err = errorOf(res);
        assert.equal(err.status, c.status, res.body);
        assert.equal(err.code, c.code, res.body);
        assert.equal(fake.calls.length, before, 'the predictor must not see a rejected request');
      });
    }

    test('unknown route 404, wrong method 405, both JSON', async () => {
      const nf = errorOf(await app.inject('/v2/predict'));
      assert.deepEqual([nf.status, nf.code], [404, 'not_found']);
      const res = await app.inject('/v1/predict');
      assert.deepEqual([res.statusCode, errorOf(res).code], [405, 'method_not_allowed']);
      assert.equal(res.headers.allow, 'POST');
    });
  });

  test('a predictor failure: 422 for a bad image (UserError), 500 without internals otherwise', async () => {
    const post = () =>
      app.inject({
        method: 'POST',
        url: '/v1/predict',
        headers: { 'content-type': 'image/jpeg' },
        payload: jpeg,
      });
    fake.failNext(new UserError('photo.jpg: cannot decode image'));
    const bad = errorOf(await post());
    assert.deepEqual([bad.status, bad.code], [422, 'invalid_image']);
    assert.match(bad.message, /cannot decode/);
    fake.failNext(new Error('secret internal detail at /srv/x.ts:12'));
    const boom = errorOf(await post());
    assert.deepEqual([boom.status, boom.code], [500, 'internal_error']);
    assert.doesNotMatch(boom.message, /secret/);
    assert.equal((await post()).statusCode, 200, 'the server keeps answering');
  });
});

describe('no local path in any answer', () => {
  /** Every string of a JSON value, with the key it is under. */
  function strings(v: unknown, key = ''): [string, string][] {
    if (typeof v === 'string') return [[key, v]];
    if (Array.isArray(v)) return v.flatMap((x) => strings(x, key));
    if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => strings(x, k));
    return [];
  }

  async function answers(metrics: unknown, dir: string): Promise<{ app: FastifyInstance; bodies: string[] }> {
    const fake = { ...fakePredictor(dir), metrics };
    const app = await buildServer({ predictor: fake });
    const bodies: string[] = [];
    for (const url of [
      '/v1/model',
      '/model/metrics.json',
      '/healthz',
      '/openapi.json',
      '/nowhere',
      '/lib/x.js',
    ]) {
      bodies.push((await app.inject(url)).body);
    }
    // A model failure names the model folder in its message (for the CLI): the client gets the model's name.
    fake.failNext(new ModelError(`${dir}: the model's outputs are not numbers (NaN)`));
    const failed = await app.inject({
      method: 'POST',
      url: '/v1/predict?detect=false',
      headers: { 'content-type': 'image/jpeg' },
      payload: jpeg,
    });
    assert.equal(failed.statusCode, 500);
    assert.match(failed.body, /model_error.*the model's outputs are not numbers/);
    bodies.push(failed.body);
    return { app, bodies };
  }

  test("the default model's metrics.json: training's folders and CSVs are dropped, names and scores kept", async () => {
    const metrics = JSON.parse(
      readFileSync(path.join(repoRoot, 'models', 'default', 'metrics.json'), 'utf8'),
    );
    const paths = strings(metrics)
      .filter(([k]) => /Dir$|Csv$|^cacheDir$|^data$/.test(k))
      .map(([, v]) => v);
    assert.ok(paths.length >= 3, `the default model's metrics.json has paths: ${paths}`);
    const bundle = await fakeBundleDir();
    const { app, bodies } = await answers(metrics, bundle.dir);
    try {
      for (const body of bodies) {
        for (const p of [...paths, bundle.dir]) assert.ok(!body.includes(p), `${p} in ${body.slice(0, 300)}`);
      }
      const served = JSON.parse(bodies[1]!) as Json;
      assert.deepEqual(served, (JSON.parse(bodies[0]!) as Json).metrics);
      assert.equal(served.settings.epochs, metrics.settings.epochs);
      assert.deepEqual(
        served.validation.map((v: Json) => v.name),
        ['utk150', 'aaf150'],
      );
      assert.equal(served.backbone.id, metrics.backbone.id);
      assert.deepEqual(served.validation, metrics.validation);
    } finally {
      await app.close();
      await bundle.cleanup();
    }
  });

  test('a bundle whose metrics.json holds absolute paths (any key, any depth)', async () => {
    const metrics = {
      ageMae: 6.5,
      settings: {
        modelDir: '/home/alice/runs/a',
        trainCsv: '/home/alice/var/train.csv',
        sets: [{ name: 'mine', imgDir: 'C:\\Users\\alice\\crop' }],
        initFrom: '/srv/models/b',
        data: ['/data/a', '/data/b'],
        somethingNew: '/etc/agegender/secret',
        relative: '../up/there',
        home: '~/photos',
      },
    };
    const bundle = await fakeBundleDir();
    const { app, bodies } = await answers(metrics, bundle.dir);
    try {
      for (const body of bodies) {
        for (const p of ['/home/alice', 'alice', '/srv/', '/data/', '/etc/', '~/', '../up', bundle.dir]) {
          assert.ok(!body.includes(p), `${p} in ${body.slice(0, 300)}`);
        }
      }
      const served = JSON.parse(bodies[1]!) as Json;
      assert.deepEqual(served, { ageMae: 6.5, settings: { sets: [{ name: 'mine' }] } });
    } finally {
      await app.close();
      await bundle.cleanup();
    }
  });
});

describe('serve queue', () => {
  test('bounded concurrency; a full queue answers 503 busy with Retry-After', async () => {
    const bundle = await fakeBundleDir();
    const fake = fakePredictor(bundle.dir);
    const app = await buildServer({ predictor: fake, limits: { concurrency: 1, queue: 1 } });
    try {
      const post = () =>
        app.inject({
          method: 'POST',
          url: '/v1/predict?detect=false',
          headers: { 'content-type': 'image/jpeg' },
          payload: jpeg,
        });
      fake.hold();
      const first = post();
      await waitFor(() => fake.running === 1);
      const second = post();
      // The second request waits in the queue: the model is not called for it yet.
      const queueState = async () => (JSON.parse((await app.inject('/healthz')).body) as Json).queue;
      let q = await queueState();
      for (let i = 0; q.waiting !== 1 && i < 400; i++) {
        await new Promise((r) => setTimeout(r, 5));
        q = await queueState();
      }
      assert.equal(fake.calls.length, 1);
      assert.deepEqual(q, { running: 1, waiting: 1, concurrency: 1, maxWaiting: 1 });
      const third = await post();
      const err = errorOf(third);
      assert.deepEqual([err.status, err.code], [503, 'busy']);
      assert.ok(Number(third.headers['retry-after']) >= 1, `Retry-After: ${third.headers['retry-after']}`);
      assert.equal(fake.running, 1, 'never more than one inference at once');
      fake.release();
      const [a, b] = await Promise.all([first, second]);
      assert.equal(a.statusCode, 200);
      assert.equal(b.statusCode, 200);
      assert.equal(fake.calls.length, 2);
      assert.equal((await post()).statusCode, 200, 'free again once drained');
    } finally {
      fake.release();
      await app.close();
      await bundle.cleanup();
    }
  });
});

describe('InferenceQueue', () => {
  test('a waiting task whose client went away is dropped without running', async () => {
    const q = new InferenceQueue(1, 2);
    const ran: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const first = q.run(async () => {
      ran.push('first');
      await gate;
    });
    const gone = new AbortController();
    const second = q.run(async () => ran.push('second'), gone.signal);
    const third = q.run(async () => ran.push('third'));
    assert.deepEqual(q.stats, { running: 1, waiting: 2, concurrency: 1, maxWaiting: 2 });
    gone.abort(new Error('client closed'));
    await assert.rejects(second, /client closed/);
    assert.equal(q.stats.waiting, 1);
    open();
    await Promise.all([first, third]);
    assert.deepEqual(ran, ['first', 'third']);
    assert.deepEqual(q.stats, { running: 0, waiting: 0, concurrency: 1, maxWaiting: 2 });
  });
});

describe('serve over a real socket', () => {
  test('answers over TCP and survives abusive clients', async () => {
    const bundle = await fakeBundleDir();
    const fake = fakePredictor(bundle.dir);
    const app = await buildServer({ predictor: fake, limits: { maxBodyBytes: 64 * 1024 } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as net.AddressInfo;
    const base = `http://127.0.0.1:${port}`;
    const rawSend = (text: string | Buffer, hangUp: boolean) =>
      new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.write(text);
          if (hangUp) s.destroy();
        });
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('close', () => resolve(got));
        s.on('error', () => resolve(got));
        setTimeout(() => s.destroy(), 2000);
      });
    try {
      const res = await fetch(`${base}/v1/predict?detect=false`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: jpeg,
      });
      assert.equal(res.status, 200);
      assert.match(((await res.json()) as Json).faces[0].label, /^[MF]\/\d+$/);

      // A body that stops half way (client hangs up), a lying Content-Length, garbage, a huge
      // declared length: none may take the process down.
      const head = (len: number) =>
        `POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${len}\r\n\r\n`;
      await rawSend(Buffer.concat([Buffer.from(head(jpeg.length)), jpeg.subarray(0, 1000)]), true);
      // Errors raised before fastify has a request (Node's parser, fastify's router) have the API's shape.
      const shapes: [string, RegExp, string][] = [
        ['GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1.1 400/, 'bad_request'],
        [
          `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
          /^HTTP\/1.1 431/,
          'header_too_large',
        ],
        ['GARBAGE / NOT-HTTP\r\n\r\n', /^HTTP\/1.1 400/, 'bad_request'],
        ['GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1.1 400/, 'bad_request'],
      ];
      for (const [request, status, code] of shapes) {
        const answer = await rawSend(request, false);
        assert.match(answer, status, answer);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Json;
        assert.deepEqual(Object.keys(body), ['error'], answer);
        assert.equal(body.error.code, code, answer);
        assert.equal(typeof body.error.message, 'string');
      }
      const tooBig = await rawSend(head(50 * 1024 * 1024), false);
      assert.match(tooBig, /^HTTP\/1.1 413/);
      assert.match(tooBig, /body_too_large/);
      const big = await fetch(`${base}/v1/predict`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: Buffer.alloc(200 * 1024),
      });
      assert.equal(big.status, 413);

      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as Json).status, 'ok');
      assert.equal(fake.calls.length, 1, 'only the good request reached the model');
    } finally {
      await app.close();
      await bundle.cleanup();
    }
  });
});
