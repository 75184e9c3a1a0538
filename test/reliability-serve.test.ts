import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { loadPredictor } from '../src/api/predict.js';
import { serve } from '../src/serve/serve.js';
import { buildServer } from '../src/serve/server.js';
import { InvalidOptionError, ModelError } from '../src/util/errors.js';
import { closeWithDeadline } from '../src/serve/shutdown.js';
import { fakeBundleDir, fakePredictor } from './helpers/serve-fixtures.js';
import { repoRoot, tempDir } from './helpers/fixtures.js';
import { writeTestBundle } from './helpers/predict-bundle.js';
import { runCli } from './helpers/spawn-cli.js';

/** Raw sockets that send the start of a request and then go quiet, as a hung or hostile client does. */
async function halfRequests(port: number): Promise<net.Socket[]> {
  const starts = [
    'POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xff\xd8\xff',
    'POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Ty',
  ];
  return Promise.all(
    starts.map(
      (text) =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => s.write(text, 'latin1', () => resolve(s)));
          s.on('error', () => {});
          s.once('error', reject);
        }),
    ),
  );
}

test('close with a deadline cuts clients that hold half a header or half a body', async () => {
  const bundle = await fakeBundleDir();
  const app = await buildServer({ predictor: fakePredictor(bundle.dir) });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as net.AddressInfo).port;
    const sockets = await halfRequests(port);
    await new Promise((r) => setTimeout(r, 100));
    // The plain close waits on them (this is what kept `serve` up after SIGTERM)...
    const plain = app.close().then(() => 'closed');
    const waited = await Promise.race([plain, new Promise((r) => setTimeout(() => r('still open'), 1500))]);
    assert.equal(waited, 'still open');
    // ...the deadline cuts them.
    const t0 = Date.now();
    const { cut } = await closeWithDeadline(app, 300);
    assert.ok(Date.now() - t0 < 3000, `closed in ${Date.now() - t0} ms`);
    assert.equal(cut, 2);
    await plain;
    await Promise.all(sockets.map((s) => (s.closed ? null : new Promise((r) => s.once('close', r)))));
  } finally {
    app.server.closeAllConnections();
    await app.close();
    await bundle.cleanup();
  }
});

/** Starts `agegender serve` from source; resolves with the child and its address once it listens. */
function startServe(args: string[]) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'test', 'helpers', 'run-cli.ts'), 'serve', '--no-log', ...args],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  let signal: NodeJS.Signals | null = null;
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (code, sig) => {
      signal = sig;
      r(code);
    }),
  );
  const listening = new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = / at http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  listening.catch(() => {}); // awaited by the tests that expect it to listen
  return { child, exited, listening, stderr: () => stderr, signal: () => signal };
}

test('serve exits on SIGTERM within its --shutdown-timeout while a client holds half a request; a port in use is a one-line error', async () => {
  const { dir, cleanup } = await tempDir();
  const bundle = await writeTestBundle(path.join(dir, 'bundle'));
  const serve = startServe(['--port', '0', '--model-dir', bundle, '--shutdown-timeout', '1']);
  try {
    const port = await serve.listening;
    // A second server on the same port: EADDRINUSE is the user's to fix, not an internal error.
    const second = startServe(['--port', String(port), '--model-dir', bundle]);
    // (Once, in a full run, this child ended by a signal instead: say which, with its output.)
    assert.equal(await second.exited, 1, `signal ${second.signal()}: ${second.stderr()}`);
    assert.match(
      second.stderr().trim().split('\n').at(-1)!,
      new RegExp(
        `^agegender: 127\\.0\\.0\\.1:${port} is already in use: pick another --port \\(0 picks a free one\\)$`,
      ),
    );
    const sockets = await halfRequests(port);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
    assert.ok(Date.now() - t0 < 8000, `exited ${Date.now() - t0} ms after SIGTERM`);
    assert.match(serve.stderr(), /SIGTERM, closing/);
    assert.match(serve.stderr(), /cut 2 connections still open after 1 s/);
    for (const s of sockets) s.destroy();
  } finally {
    serve.child.kill('SIGKILL');
    await cleanup();
  }
});

/** A multipart/form-data body built by hand: `files` file parts named image, `fields` text fields. */
function multipart(files: number, fields: number): { body: Buffer; type: string } {
  const b = 'agegenderboundary';
  const parts: string[] = [];
  for (let i = 0; i < fields; i++)
    parts.push(`--${b}\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\nv\r\n`);
  for (let i = 0; i < files; i++)
    parts.push(
      `--${b}\r\nContent-Disposition: form-data; name="image"; filename="a${i}.jpg"\r\nContent-Type: image/jpeg\r\n\r\nxx\r\n`,
    );
  return { body: Buffer.from(parts.join('') + `--${b}--\r\n`), type: `multipart/form-data; boundary=${b}` };
}

test('a multipart form over the files or fields limits is 413 too_many_parts, not "body over 10 MB"', async () => {
  const bundle = await fakeBundleDir();
  const app = await buildServer({ predictor: fakePredictor(bundle.dir) });
  try {
    for (const [files, fields] of [
      [2, 0],
      [1, 12],
    ] as const) {
      const { body, type } = multipart(files, fields);
      const res = await app.inject({
        method: 'POST',
        url: '/v1/predict',
        payload: body,
        headers: { 'content-type': type },
      });
      assert.equal(res.statusCode, 413, `${files} files, ${fields} fields`);
      const err = res.json().error;
      assert.equal(err.code, 'too_many_parts');
      assert.match(err.message, /multipart form over its limits \(reach (files|fields|parts) limit\)/);
      assert.doesNotMatch(err.message, /bytes/);
    }
  } finally {
    await app.close();
    await bundle.cleanup();
  }
});

/** Resolves with the ms from now until the socket is closed by the server (or `capMs` passes: -1). */
function closedAfter(s: net.Socket, capMs: number): Promise<{ ms: number; got: string }> {
  const t0 = Date.now();
  let got = '';
  s.on('data', (d) => (got += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ ms: -1, got }), capMs);
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - t0, got });
    });
  });
}

test('a half-sent upload or header is answered 408 and closed within --request-timeout / --headers-timeout', async (t) => {
  const bundle = await fakeBundleDir();
  const app = await buildServer({
    predictor: fakePredictor(bundle.dir),
    limits: { requestTimeoutS: 1.5, headersTimeoutS: 0.5 },
  });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as net.AddressInfo).port;
    const [body, header] = await halfRequests(port);
    const [b, h] = await Promise.all([closedAfter(body!, 10_000), closedAfter(header!, 10_000)]);
    t.diagnostic(`half-sent body closed after ${b.ms} ms, half-sent header after ${h.ms} ms`);
    // Timeouts 1.5 s and 0.5 s, checked every 0.75 s: closed past the timeout, and not much later.
    assert.ok(b.ms >= 1000 && b.ms < 3500, `body: ${b.ms} ms`);
    assert.ok(h.ms >= 300 && h.ms < 2000, `header: ${h.ms} ms`);
    for (const { got } of [b, h]) {
      if (got === '') continue; // the socket may be cut before the 408 is written
      assert.match(got, /^HTTP\/1.1 408/);
      assert.match(got, /"code":"request_timeout"/);
    }
  } finally {
    app.server.closeAllConnections();
    await app.close();
    await bundle.cleanup();
  }
});

test('connections past --max-connections are closed at once; the ones under it are served', async (t) => {
  const bundle = await fakeBundleDir();
  const app = await buildServer({ predictor: fakePredictor(bundle.dir), limits: { maxConnections: 3 } });
  const open: net.Socket[] = [];
  const connect = (port: number) =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', () => {});
      s.once('error', reject);
      open.push(s);
    });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as net.AddressInfo).port;
    const held = [await connect(port), await connect(port), await connect(port)];
    await new Promise((r) => setTimeout(r, 100));
    const extra = await connect(port);
    const refused = await closedAfter(extra, 3000);
    t.diagnostic(`connection 4 of a cap of 3 closed after ${refused.ms} ms`);
    assert.ok(refused.ms >= 0 && refused.ms < 1000, `the 4th connection stayed open (${refused.ms})`);
    assert.equal(refused.got, '');
    // The held ones are served...
    const answer = closedAfter(held[0]!, 3000);
    held[0]!.end('GET /v1/model HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match((await answer).got, /^HTTP\/1.1 200/);
    // ...and once one is gone, a new client gets in.
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`http://127.0.0.1:${port}/v1/model`, { headers: { connection: 'close' } });
    assert.equal(res.status, 200);
  } finally {
    for (const s of open) s.destroy();
    app.server.closeAllConnections();
    await app.close();
    await bundle.cleanup();
  }
});

/** A test bundle whose weights are all NaN. */
async function nanBundle(dir: string): Promise<string> {
  const bundle = await writeTestBundle(path.join(dir, 'nan-bundle'));
  const weights = path.join(bundle, 'weights.bin');
  const size = (await fs.stat(weights)).size;
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) buf.writeFloatLE(NaN, i);
  await fs.writeFile(weights, buf);
  return bundle;
}

test('a NaN model: /healthz fails (503 model_error), serve() and `agegender serve` refuse to start', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const bundle = await nanBundle(dir);
    const predictor = await loadPredictor({ modelDir: bundle });
    const app = await buildServer({ predictor });
    try {
      const res = await app.inject('/healthz');
      assert.equal(res.statusCode, 503, res.body);
      const err = res.json().error;
      assert.equal(err.code, 'model_error');
      assert.match(err.message, /not numbers \(NaN\)/);
      assert.ok(!res.body.includes(dir), res.body);
    } finally {
      await app.close();
      predictor.dispose();
    }
    await assert.rejects(
      serve({ modelDir: bundle, port: 0, log: false }),
      (e: unknown) =>
        e instanceof ModelError &&
        /nan-bundle: the model's outputs are not numbers \(NaN\).*not serving/.test(e.message) &&
        !e.message.includes('\n'),
    );
    const run = await runCli(['serve', '--port', '0', '--no-log', '--model-dir', bundle]);
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(
      lines[0]!,
      /^agegender: .*nan-bundle: the model's outputs are not numbers \(NaN\).*not serving/,
    );
  } finally {
    await cleanup();
  }
});

test('a sound model: /healthz runs a real prediction, cached for a few seconds', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const bundle = await writeTestBundle(path.join(dir, 'ok-bundle'));
    const predictor = await loadPredictor({ modelDir: bundle });
    let calls = 0;
    const counting = {
      ...predictor,
      modelDir: predictor.modelDir,
      spec: predictor.spec,
      predict: (input: string | Buffer, o?: { detect?: boolean; minScore?: number }) => {
        calls++;
        return predictor.predict(input, o);
      },
    };
    const app = await buildServer({ predictor: counting });
    try {
      const first = await app.inject('/healthz');
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(first.json().status, 'ok');
      assert.equal(calls, 1, 'the check predicts');
      for (let i = 0; i < 5; i++) assert.equal((await app.inject('/healthz')).statusCode, 200);
      assert.equal(calls, 1, 'within the cache time, no second prediction');
    } finally {
      await app.close();
      predictor.dispose();
    }
  } finally {
    await cleanup();
  }
});

test('serve() (the library): validated options, listens, answers, closes and frees the model', async () => {
  await assert.rejects(serve({ headersTimeout: 0 }), (e: unknown) => {
    return (
      e instanceof InvalidOptionError &&
      /serve: option headersTimeout must be a number in 0.1..3600/.test(e.message)
    );
  });
  const { dir, cleanup } = await tempDir();
  try {
    const bundle = await writeTestBundle(path.join(dir, 'ok-bundle'));
    const server = await serve({ modelDir: bundle, port: 0, log: false, maxConnections: 8 });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { model: string }).model, 'ok-bundle');
    } finally {
      assert.deepEqual(await server.close(), { cut: 0 });
    }
    await assert.rejects(fetch(`${server.url}/healthz`), 'closed');
  } finally {
    await cleanup();
  }
});
