import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { buildServer } from '../src/serve/server.js';
import { closeWithDeadline } from '../src/serve/shutdown.js';
import { fakeBundleDir, fakePredictor } from './helpers/serve-fixtures.js';
import { repoRoot, tempDir } from './helpers/fixtures.js';
import { writeTestBundle } from './helpers/predict-bundle.js';

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
