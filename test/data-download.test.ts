import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as tar from 'tar';
import { downloadDataset, downloadFile } from '../src/data/download.js';
import { UserError } from '../src/util/errors.js';
import { tempDir } from './helpers/fixtures.js';
import { runCli } from './helpers/spawn-cli.js';

/** A tar shaped like wiki_crop.tar: wiki_crop/wiki.mat and a few image folders (random bytes). */
async function buildTar(dir: string): Promise<{ tarFile: string; files: Record<string, string> }> {
  const src = path.join(dir, 'src');
  const files: Record<string, string> = {};
  for (const rel of [
    'wiki_crop/wiki.mat',
    'wiki_crop/00/a.jpg',
    'wiki_crop/00/b.jpg',
    'wiki_crop/17/c.jpg',
  ]) {
    const data = randomBytes(60_000 + rel.length * 1000);
    await fs.mkdir(path.join(src, path.dirname(rel)), { recursive: true });
    await fs.writeFile(path.join(src, rel), data);
    files[rel] = createHash('sha256').update(data).digest('hex');
  }
  const tarFile = path.join(dir, 'wiki_crop.tar');
  await tar.c({ file: tarFile, cwd: src }, ['wiki_crop']);
  return { tarFile, files };
}

interface Served {
  url: string;
  requests: { range: string | undefined; ifRange: string | undefined }[];
  close: () => Promise<void>;
}

/**
 * Serves one file on 127.0.0.1 with Range support. `dropAfter` bytes into the first `drops` responses the
 * connection is destroyed; `ignoreRange` answers every request with the whole file (200).
 */
async function serve(
  file: string,
  opts: { drops?: number; dropAfter?: number; ignoreRange?: boolean } = {},
): Promise<Served> {
  const body = await fs.readFile(file);
  const requests: Served['requests'] = [];
  let drops = opts.drops ?? 0;
  const server = http.createServer((req, res) => {
    requests.push({ range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined });
    if (!req.url?.endsWith(path.basename(file))) {
      res.writeHead(404).end();
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const headers: http.OutgoingHttpHeaders = { ETag: '"v1"', 'Accept-Ranges': 'bytes' };
    if (m && !opts.ignoreRange) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, {
        ...headers,
        'Content-Length': body.length - start,
        'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}`,
      });
    } else res.writeHead(200, { ...headers, 'Content-Length': body.length });
    const chunk = body.subarray(start);
    if (drops > 0) {
      drops--;
      res.write(chunk.subarray(0, opts.dropAfter ?? chunk.length >> 1), () => res.socket?.destroy());
      return;
    }
    res.end(chunk);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

async function checkExtracted(dir: string, files: Record<string, string>) {
  for (const [rel, sha] of Object.entries(files)) {
    const data = await fs.readFile(path.join(dir, rel.replace(/^wiki_crop\//, '')));
    assert.equal(createHash('sha256').update(data).digest('hex'), sha, rel);
  }
}

test('download wiki: a dropped connection is resumed with Range, verified, extracted, marked finished', async () => {
  const { dir, cleanup } = await tempDir();
  const { tarFile, files } = await buildTar(dir);
  const server = await serve(tarFile, { drops: 2, dropAfter: 70_000 });
  try {
    const out = path.join(dir, 'data');
    const r = await downloadDataset('wiki', {
      outputDir: out,
      urlBase: server.url,
      json: true,
      retryDelayMs: 10,
    });
    assert.equal(r.bytes, (await fs.stat(tarFile)).size);
    assert.equal(r.dir, path.join(out, 'wiki_crop'));
    await checkExtracted(r.dir, files);
    // Each retry asks for the rest, from no further than the bytes the dropped response had sent.
    const starts = server.requests.map((q) => Number(/^bytes=(\d+)-$/.exec(q.range ?? '')?.[1] ?? 0));
    assert.equal(starts.length, 3);
    assert.equal(starts[0], 0);
    assert.ok(starts[1]! > 0 && starts[1]! <= 70_000, `resumed at ${starts[1]}`);
    assert.ok(starts[2]! > starts[1]! && starts[2]! <= starts[1]! + 70_000, `resumed at ${starts[2]}`);
    assert.equal(server.requests[1]!.ifRange, '"v1"');
    assert.deepEqual((await fs.readdir(out)).sort(), ['wiki_crop'], 'no tar, part or temp left');

    // Finished: refused without --force, redone with it.
    await assert.rejects(
      downloadDataset('wiki', { outputDir: out, urlBase: server.url, json: true }),
      (e: unknown) => e instanceof UserError && /already downloaded .*--force/.test(e.message),
    );
    const again = await downloadDataset('wiki', {
      outputDir: out,
      urlBase: server.url,
      json: true,
      force: true,
    });
    assert.equal(again.bytes, r.bytes);
    await checkExtracted(again.dir, files);
  } finally {
    await server.close();
    await cleanup();
  }
});

test('a download that gives up leaves a partial file the next run resumes from', async () => {
  const { dir, cleanup } = await tempDir();
  const { tarFile } = await buildTar(dir);
  const server = await serve(tarFile, { drops: 1, dropAfter: 100_000 });
  try {
    const dest = path.join(dir, 'dl', 'wiki_crop.tar');
    await assert.rejects(
      downloadFile(`${server.url}/wiki_crop.tar`, dest, { retries: 0, json: true }),
      (e: unknown) => e instanceof UserError && /run again to resume/.test(e.message),
    );
    const partial = (await fs.stat(`${dest}.part`)).size;
    assert.ok(partial > 0 && partial <= 100_000, `kept ${partial} bytes`);
    await assert.rejects(fs.stat(dest), 'no finished file yet');
    const size = await downloadFile(`${server.url}/wiki_crop.tar`, dest, { json: true });
    assert.equal(server.requests.at(-1)!.range, `bytes=${partial}-`);
    assert.ok((await fs.readFile(dest)).equals(await fs.readFile(tarFile)));
    assert.equal(size, (await fs.stat(tarFile)).size);
  } finally {
    await server.close();
    await cleanup();
  }
});

test('a server that ignores Range restarts the file instead of appending to it', async () => {
  const { dir, cleanup } = await tempDir();
  const { tarFile } = await buildTar(dir);
  const server = await serve(tarFile, { drops: 1, dropAfter: 50_000, ignoreRange: true });
  try {
    const dest = path.join(dir, 'x.tar');
    await downloadFile(`${server.url}/wiki_crop.tar`, dest, { json: true, retryDelayMs: 10 });
    assert.ok((await fs.readFile(dest)).equals(await fs.readFile(tarFile)));
  } finally {
    await server.close();
    await cleanup();
  }
});

test('HTTP errors and a server that never sends the whole file are one-line UserErrors', async () => {
  const { dir, cleanup } = await tempDir();
  const { tarFile } = await buildTar(dir);
  const server = await serve(tarFile, { drops: 100, dropAfter: 1000 });
  try {
    await assert.rejects(
      downloadDataset('imdb', { outputDir: path.join(dir, 'o'), urlBase: server.url, json: true }),
      (e: unknown) => e instanceof UserError && /imdb_crop\.tar: HTTP 404/.test(e.message),
    );
    await assert.rejects(
      downloadFile(`${server.url}/wiki_crop.tar`, path.join(dir, 'y.tar'), {
        json: true,
        retries: 2,
        retryDelayMs: 5,
      }),
      (e: unknown) =>
        e instanceof UserError && /after 3 attempts/.test(e.message) && !e.message.includes('\n'),
    );
  } finally {
    await server.close();
    await cleanup();
  }
});

test('only http(s) is fetched: file:// and ftp:// fail at once, without retries', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (const url of ['file:///etc/passwd', 'ftp://example.org/wiki_crop.tar', 'not a url']) {
      const t0 = Date.now();
      await assert.rejects(
        downloadFile(url, path.join(dir, 'x.tar'), { json: true, retryDelayMs: 500 }),
        (e: unknown) => e instanceof UserError && /only http:\/\/ and https:\/\/|not a URL/.test(e.message),
      );
      assert.ok(Date.now() - t0 < 400, `${url}: no retry pauses`);
    }
    await assert.rejects(
      downloadDataset('wiki', { outputDir: path.join(dir, 'o'), urlBase: 'file:///tmp', json: true }),
      /file:\/\/\/tmp\/wiki_crop\.tar: only http/,
    );
  } finally {
    await cleanup();
  }
});

test('download never replaces a folder of the user: <out>/wiki_crop with their files is refused', async () => {
  const { dir, cleanup } = await tempDir();
  const { tarFile } = await buildTar(dir);
  const server = await serve(tarFile);
  try {
    const out = path.join(dir, 'data');
    await fs.mkdir(path.join(out, 'wiki_crop'), { recursive: true });
    await fs.writeFile(path.join(out, 'wiki_crop', 'mine.txt'), 'my notes');
    await assert.rejects(
      downloadDataset('wiki', { outputDir: out, urlBase: server.url, json: true }),
      (e: unknown) =>
        e instanceof UserError && /wiki_crop: exists and was not made by agegender download/.test(e.message),
    );
    assert.equal(await fs.readFile(path.join(out, 'wiki_crop', 'mine.txt'), 'utf8'), 'my notes');
    assert.equal(server.requests.length, 0, 'nothing downloaded');
  } finally {
    await server.close();
    await cleanup();
  }
});

test('a truncated tar fails extraction, is removed with a message (not reused), and leaves no temp folder', async () => {
  const { dir, cleanup } = await tempDir();
  const { tarFile, files } = await buildTar(dir);
  const cut = path.join(dir, 'cut', 'wiki_crop.tar');
  await fs.mkdir(path.dirname(cut));
  await fs.writeFile(cut, (await fs.readFile(tarFile)).subarray(0, 100_000));
  const bad = await serve(cut);
  const out = path.join(dir, 'data');
  try {
    await assert.rejects(
      downloadDataset('wiki', { outputDir: out, urlBase: bad.url, json: true }),
      (e: unknown) =>
        e instanceof UserError &&
        /wiki_crop\.tar: cannot extract: .*; removed it, run again to download it afresh$/.test(e.message),
    );
    assert.deepEqual(await fs.readdir(out), [], 'no tar, temp folder or half-extracted folder left');
  } finally {
    await bad.close();
  }
  const good = await serve(tarFile);
  try {
    const r = await downloadDataset('wiki', { outputDir: out, urlBase: good.url, json: true });
    assert.equal(good.requests.length, 1, 'downloaded afresh');
    await checkExtracted(r.dir, files);
  } finally {
    await good.close();
    await cleanup();
  }
});

test("a user's own wiki_crop (a file) or wiki_crop.tar in --output-dir is never deleted, used or replaced", async () => {
  const { dir, cleanup } = await tempDir();
  const { tarFile, files } = await buildTar(dir);
  const server = await serve(tarFile);
  try {
    const out = path.join(dir, 'o2');
    await fs.mkdir(out);
    await fs.writeFile(path.join(out, 'wiki_crop'), 'a file of the user');
    await assert.rejects(
      downloadDataset('wiki', { outputDir: out, urlBase: server.url, json: true }),
      (e: unknown) => e instanceof UserError && /o2\/wiki_crop: exists and is not a folder/.test(e.message),
    );
    assert.equal(await fs.readFile(path.join(out, 'wiki_crop'), 'utf8'), 'a file of the user');
    await fs.rm(path.join(out, 'wiki_crop'));
    // Their tar (not a download of ours) is neither extracted nor recorded nor removed.
    await fs.writeFile(path.join(out, 'wiki_crop.tar'), 'their tar');
    const r = await downloadDataset('wiki', { outputDir: out, urlBase: server.url, json: true });
    assert.equal(server.requests.length, 1, 'downloaded');
    await checkExtracted(r.dir, files);
    assert.equal(await fs.readFile(path.join(out, 'wiki_crop.tar'), 'utf8'), 'their tar');
  } finally {
    await server.close();
    await cleanup();
  }
});

/** The 512-byte tar headers of a file: their offsets, in order. */
function headerOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + 512 <= buf.length && buf[at] !== 0;) {
    out.push(at);
    const size = parseInt(
      buf
        .subarray(at + 124, at + 136)
        .toString()
        .replace(/\0.*$/, '')
        .trim() || '0',
      8,
    );
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Rewrites a header's name and recomputes its checksum. */
function renameEntry(buf: Buffer, at: number, name: string): void {
  buf.fill(0, at, at + 100);
  buf.write(name, at, 'utf8');
  buf.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += buf[i]!;
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', at + 148, 'latin1');
}

test('a tar corrupt mid-archive (bad checksum, a .. entry before more files) is a one-line error, removed, no temp folder', async () => {
  const { dir, cleanup } = await tempDir();
  const { tarFile, files } = await buildTar(dir);
  const whole = await fs.readFile(tarFile);
  const offsets = headerOffsets(whole);
  assert.ok(offsets.length >= 5, `entries: ${offsets.length}`);
  const checksum = Buffer.from(whole);
  checksum[offsets[3]! + 150] ^= 0x07; // header of the 4th entry, checksum field
  const dotdot = Buffer.from(whole);
  renameEntry(dotdot, offsets[2]!, '../../escaped.jpg');
  try {
    for (const [what, bytes] of [
      ['bad checksum', checksum],
      ['.. entry', dotdot],
    ] as const) {
      const bad = path.join(dir, what.replace(/\W/g, ''), 'wiki_crop.tar');
      await fs.mkdir(path.dirname(bad), { recursive: true });
      await fs.writeFile(bad, bytes);
      const server = await serve(bad);
      const out = path.join(dir, `out-${what.replace(/\W/g, '')}`);
      try {
        await assert.rejects(
          downloadDataset('wiki', { outputDir: out, urlBase: server.url, json: true }),
          (e: unknown) =>
            e instanceof UserError &&
            !e.message.includes('\n') &&
            /wiki_crop\.tar: cannot extract: .*; removed it, run again to download it afresh$/.test(
              e.message,
            ),
          what,
        );
        assert.deepEqual(await fs.readdir(out), [], `${what}: no tar, temp or half-extracted folder left`);
        await assert.rejects(fs.stat(path.join(dir, 'escaped.jpg')), 'nothing written outside');
      } finally {
        await server.close();
      }
      const good = await serve(tarFile);
      try {
        const r = await downloadDataset('wiki', { outputDir: out, urlBase: good.url, json: true });
        assert.equal(good.requests.length, 1, `${what}: downloaded afresh, not the bad file reused`);
        await checkExtracted(r.dir, files);
      } finally {
        await good.close();
      }
    }
  } finally {
    await cleanup();
  }
});

test('a redirect to file:// is refused at once, not retried', async () => {
  const server = http.createServer((_req, res) =>
    res.writeHead(302, { Location: 'file:///etc/passwd' }).end(),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { dir, cleanup } = await tempDir();
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/wiki_crop.tar`;
    const t0 = Date.now();
    await assert.rejects(
      downloadFile(url, path.join(dir, 'x.tar'), { json: true, retryDelayMs: 500 }),
      (e: unknown) =>
        e instanceof UserError && /redirect.* file:\/\/\/etc\/passwd.*only http/.test(e.message),
    );
    assert.ok(Date.now() - t0 < 400, 'no retry pauses');
  } finally {
    await new Promise((r) => server.close(r));
    await cleanup();
  }
});

test('agegender download <dataset>: the positional name and the schema flags reach the download; --json prints its result', async () => {
  const { dir, cleanup } = await tempDir();
  const { tarFile, files } = await buildTar(dir);
  const server = await serve(tarFile, {});
  try {
    const out = path.join(dir, 'cli-out');
    const r = await runCli([
      'download',
      'wiki',
      '--output-dir',
      out,
      '--url-base',
      server.url,
      '--keep-tar',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { dataset: string; dir: string; bytes: number };
    assert.equal(result.dataset, 'wiki');
    assert.equal(result.dir, path.join(out, 'wiki_crop'));
    await checkExtracted(result.dir, files);
    assert.deepEqual((await fs.readdir(out)).sort(), ['wiki_crop', 'wiki_crop.tar'], '--keep-tar kept it');
    const bad = await runCli(['download', 'celeba', '--output-dir', out]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid for argument 'dataset'\. Allowed choices are imdb, wiki/);
  } finally {
    await server.close();
    await cleanup();
  }
});

test('an --output-dir that is a file is a one-line error naming it, before any request', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = path.join(dir, 'not-a-folder');
    await fs.writeFile(file, 'mine');
    await assert.rejects(
      downloadDataset('wiki', { outputDir: file, urlBase: 'http://127.0.0.1:9', json: true }),
      (e: unknown) => e instanceof UserError && e.message === `${file}: exists and is a file, not a folder`,
    );
    assert.equal(await fs.readFile(file, 'utf8'), 'mine');
  } finally {
    await cleanup();
  }
});
