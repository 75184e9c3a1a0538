import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { parseMat } from '../src/data/formats/mat5.js';
import { applyImdbWikiRules, imdbWikiTable } from '../src/data/formats/imdb-wiki-table.js';
import { imdbWikiRows } from '../src/data/datasets/imdb-wiki.js';
import { DEFAULT_CSV_COLUMNS, parseLabelCsv } from '../src/data/datasets/csv.js';
import { preprocessCsv } from '../src/api/preprocess.js';
import { parseLabelsCsv } from '../src/data/labels-csv.js';
import { parseSplitRatio } from '../src/data/split.js';
import { buildServer } from '../src/serve/server.js';
import { UserError } from '../src/util/errors.js';
import { mulberry32 } from '../src/util/random.js';
import { pickUtkface, repoRoot, tempDir, utkfaceDir } from './helpers/fixtures.js';
import { fakeBundleDir, fakePredictor } from './helpers/serve-fixtures.js';

/**
 * Fuzz tests (issue 11): seeded, so a failure reproduces; each case is timed, so a hang shows as a
 * failure rather than a stuck suite. A reader may refuse an input only with a UserError (one line for
 * the user); anything else thrown is a crash. Paths it returns must stay inside their folders.
 */

const SEED = Number(process.env.AGEGENDER_FUZZ_SEED ?? 11);
const CASE_MS = 2000;

let dir: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir, cleanup } = await tempDir('agegender-fuzz-')));
after(async () => cleanup?.());

const inside = (base: string, p: string) => {
  const rel = path.relative(path.resolve(base), path.resolve(p));
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
};

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]!;
}

/** Runs `fn`, which may only return or throw a UserError, within CASE_MS; returns what it returned. */
function expectHandled<T>(what: string, fn: () => T): T | null {
  const t0 = performance.now();
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof UserError)) throw new Error(`${what}: crashed with ${(err as Error)?.stack ?? err}`);
    assert.ok(!err.message.includes('\n'), `${what}: multi-line error ${err.message}`);
    return null;
  } finally {
    assert.ok(performance.now() - t0 < CASE_MS, `${what}: took ${performance.now() - t0} ms`);
  }
}

const PATHS = [
  'a.jpg',
  'dir/b.png',
  '../up.jpg',
  '../../../../etc/passwd',
  '/etc/passwd',
  'C:\\Windows\\x.jpg',
  'x/../../y.jpg',
  '..',
  '.',
  '',
  ' ',
  'a\u0000b.jpg',
  'ünïcödé/😀.jpg',
  '"quo""ted"',
  '"a,b"',
  '\\\\server\\share\\z.jpg',
  'x'.repeat(300),
];
const AGES = [
  '30',
  '0',
  '100',
  '101',
  '-1',
  '-0',
  '1e1',
  '0x1F',
  '0b11',
  '31.6',
  'NaN',
  'Infinity',
  '"1,5"',
  '  42 ',
  '٣٠',
  '',
];
const GENDERS = ['1', '0', 'M', 'f', 'male', '', ' 1', '2', 'true'];
const CELLS = [...PATHS, ...AGES, ...GENDERS];
const HEADERS = [
  'filename,age,gender',
  'filename,age,gender',
  'filename,age,gender',
  'FileName,Age,Gender',
  'age,gender,filename',
  'filename,age',
  '',
  'a;b;c',
];

/** A CSV of hostile cells, mostly well-formed (so it reaches the row checks), sometimes damaged. */
function fuzzCsv(rand: () => number): string {
  const lines = [pick(rand, HEADERS)];
  const rows = Math.floor(rand() * 8);
  for (let r = 0; r < rows; r++) {
    if (rand() < 0.85) lines.push([pick(rand, PATHS), pick(rand, AGES), pick(rand, GENDERS)].join(','));
    else lines.push(Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick(rand, CELLS)).join(','));
  }
  let text = lines.join(rand() < 0.3 ? '\r\n' : '\n');
  const damage = rand();
  if (damage < 0.05) text = '\ufeff' + text;
  else if (damage < 0.1) text = text.slice(0, Math.floor(rand() * text.length));
  else if (damage < 0.15) {
    const at = Math.floor(rand() * text.length);
    text = text.slice(0, at) + '"' + text.slice(at);
  } else if (damage < 0.18)
    text = String.fromCharCode(...Array.from({ length: 64 }, () => Math.floor(rand() * 256)));
  return text;
}

test('fuzz: 3000 bad CSVs through both CSV readers: no crash, no hang, no path out of its folder', () => {
  const rand = mulberry32(SEED);
  const photoDir = path.join(dir, 'photos');
  let parsed = 0;
  for (let i = 0; i < 3000; i++) {
    const text = fuzzCsv(rand);
    const what = `case ${i} (seed ${SEED}) ${JSON.stringify(text.slice(0, 80))}`;
    const seed = expectHandled(`parseLabelsCsv ${what}`, () => parseLabelsCsv(text, 'f.csv'));
    for (const r of seed ?? []) {
      assert.ok(Number.isInteger(r.age) && r.age >= 0 && r.age <= 100, what);
      assert.ok(r.gender === 0 || r.gender === 1, what);
    }
    const label = expectHandled(`parseLabelCsv ${what}`, () =>
      parseLabelCsv(text, 'f.csv', photoDir, DEFAULT_CSV_COLUMNS),
    );
    if (label) parsed++;
    for (const r of label?.rows ?? []) {
      assert.ok(inside(photoDir, r.source), `${what}: reads ${r.source}`);
      assert.ok(inside('/crop', path.join('/crop', r.filename)), `${what}: writes ${r.filename}`);
      assert.ok(r.age >= 0 && r.age <= 100, what);
    }
  }
  assert.ok(parsed > 500, `only ${parsed} CSVs got past the header checks: the fuzzer is too blunt`);
});

/** Every file under `root` except those under `skip`, with their bytes. */
async function snapshot(root: string, skip: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    const parent = (e as { parentPath?: string }).parentPath ?? (e as unknown as { path: string }).path;
    const full = path.join(parent, e.name);
    if (full === skip || full.startsWith(skip + path.sep) || !e.isFile()) continue;
    out.set(path.relative(root, full), (await fs.readFile(full)).toString('base64'));
  }
  return out;
}

test('fuzz: 20 whole `preprocess csv` runs on hostile CSVs write nothing outside --output-dir', async () => {
  const rand = mulberry32(SEED + 1);
  const sandbox = path.join(dir, 'sandbox');
  const photos = path.join(sandbox, 'a', 'photos');
  await fs.mkdir(path.join(photos, 'dir'), { recursive: true });
  const face = path.join(utkfaceDir, pickUtkface(1)[0]!.file);
  for (const p of ['a.jpg', 'dir/b.png', path.join('..', 'up.jpg'), path.join('..', '..', 'y.jpg')])
    await fs.copyFile(face, path.join(photos, p));
  const out = path.join(sandbox, 'a', 'out');
  const before = await snapshot(sandbox, out);
  for (let i = 0; i < 20; i++) {
    const rows = ['filename,age,gender'];
    for (let r = 0; r < 6; r++)
      rows.push(
        [pick(rand, CELLS.slice(0, 17)), pick(rand, ['30', '1e1', '7']), pick(rand, ['0', '1'])].join(','),
      );
    const csv = path.join(sandbox, 'labels.csv');
    await fs.writeFile(csv, rows.join('\n'));
    try {
      await preprocessCsv({
        csv,
        photoDir: photos,
        outputDir: out,
        imgSize: 8,
        quality: 50,
        splitRatio: parseSplitRatio('0.5,0.5'),
        seed: i,
      });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
    }
    const now = await snapshot(sandbox, out);
    now.delete('labels.csv');
    assert.deepEqual(now, before, `run ${i}: a file outside the output folder changed (${rows.join(' | ')})`);
  }
});

/** A few ways to damage bytes: flips, overwrites with boundary values, cuts, repeats, insertions. */
function mutate(rand: () => number, src: Uint8Array): Uint8Array {
  const buf = Buffer.from(src);
  const kind = rand();
  if (kind < 0.15) return buf.subarray(0, Math.floor(rand() * buf.length));
  if (kind < 0.25) {
    const at = Math.floor(rand() * buf.length);
    return Buffer.concat([buf.subarray(0, at), buf.subarray(Math.floor(rand() * buf.length))]);
  }
  const edits = 1 + Math.floor(rand() * 6);
  for (let e = 0; e < edits; e++) {
    // Past the 128-byte header most of the time: that is where the tags, sizes and dims live.
    const at = rand() < 0.9 ? 128 + Math.floor(rand() * (buf.length - 128)) : Math.floor(rand() * buf.length);
    const how = rand();
    if (how < 0.4) buf[at] = (buf[at] ?? 0) ^ (1 << Math.floor(rand() * 8));
    else if (how < 0.7) buf[at] = pick(rand, [0, 1, 0x7f, 0x80, 0xff]);
    else if (at + 4 <= buf.length)
      buf.writeUInt32LE(pick(rand, [0, 1, 0xffffffff, 0x7fffffff, 0x10000, 8, 0x80000000]) >>> 0, at);
  }
  return buf;
}

/** A MAT v5 file with every compressed top-level element (type 15) replaced by what it inflates to. */
function inflated(mat: Buffer): Buffer {
  const parts = [mat.subarray(0, 128)];
  for (let pos = 128; pos + 8 <= mat.length;) {
    const type = mat.readUInt32LE(pos);
    const size = mat.readUInt32LE(pos + 4);
    const data = mat.subarray(pos + 8, pos + 8 + size);
    if (type === 15) parts.push(inflateSync(data));
    else parts.push(mat.subarray(pos, pos + 8 + size + ((8 - (size % 8)) % 8)));
    pos += 8 + size + (type === 15 ? 0 : (8 - (size % 8)) % 8);
  }
  return Buffer.concat(parts);
}

test('fuzz: 3000 damaged .mat files: no crash, no hang, no full_path out of its folder', async () => {
  const rand = mulberry32(SEED + 2);
  const fixtures = path.join(repoRoot, 'test', 'fixtures', 'mat');
  const sources: Buffer[] = await Promise.all(
    ['tiny_imdb.mat', 'hostile_imdb.mat', 'uncompressed.mat', 'compressed.mat'].map((f) =>
      fs.readFile(path.join(fixtures, f)),
    ),
  );
  // The compressed fixtures hide their structure inside zlib: their inflated form is fuzzed too, so the
  // tag / dims / field parsing gets damaged, not just the deflate stream.
  sources.push(...sources.map(inflated));
  // The imdb-like ones (plain and inflated) twice as often: they are the ones that reach the table code.
  sources.push(sources[0]!, sources[1]!, sources[4]!, sources[5]!);
  let tables = 0;
  for (let i = 0; i < 3000; i++) {
    const bytes = mutate(rand, pick(rand, sources));
    const what = `case ${i} (seed ${SEED + 2})`;
    const vars = expectHandled(`parseMat ${what}`, () => parseMat(bytes, 'f.mat'));
    if (!vars) continue;
    const table = expectHandled(`imdbWikiTable ${what}`, () => imdbWikiTable(vars, 'f.mat'));
    if (!table) continue;
    tables++;
    const rules = applyImdbWikiRules(table, 1.0);
    const { rows } = imdbWikiRows(table, rules, '/photos');
    for (const r of rows) {
      assert.ok(inside('/photos', r.source), `${what}: reads ${r.source}`);
      assert.ok(inside('/crop', path.join('/crop', r.filename)), `${what}: writes ${r.filename}`);
    }
  }
  assert.ok(tables > 50, `only ${tables} damaged files still parsed as tables: the fuzzer is too blunt`);
});

test('fuzz: 3000 bad requests to the HTTP API: no crash, no hang, always a JSON error below 500', async () => {
  const rand = mulberry32(SEED + 3);
  const bundle = await fakeBundleDir();
  // Like the real Predictor, an image it cannot decode is a UserError (the real one decodes with failOn
  // 'error' like checkImage; the fake's sharp.stats() is stricter, and would turn warnings into 500s).
  const fake = fakePredictor(bundle.dir);
  const predictor = {
    ...fake,
    predict: (input: string | Buffer, o?: { detect?: boolean; minScore?: number }) =>
      fake.predict(input, o).catch((err: Error) => {
        throw new UserError(err.message);
      }),
  };
  const app = await buildServer({
    predictor,
    limits: { maxBodyBytes: 256 * 1024, maxPixels: 4_000_000 },
    logger: process.env.AGEGENDER_FUZZ_LOG ? { level: 'error' } : false,
  });
  const jpeg = await sharp(path.join(utkfaceDir, pickUtkface(1)[0]!.file))
    .jpeg()
    .toBuffer();
  const png = await sharp(jpeg).png().toBuffer();
  const bodies = [
    jpeg,
    png,
    Buffer.from('GIF89a'),
    Buffer.alloc(0),
    Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
  ];
  const types = [
    'image/jpeg',
    'image/png',
    'application/octet-stream',
    'multipart/form-data; boundary=zz',
    'multipart/form-data',
    'application/json',
    'text/plain',
    'image/',
    'image/jpeg; charset=x',
    '',
    'image/svg+xml',
  ];
  const urls = [
    '/v1/predict',
    '/v1/predict?detect=false',
    '/v1/predict?detect=maybe',
    '/v1/predict?minScore=2',
    '/v1/predict?minScore=1e-1',
    '/v1/predict?minScore=&detect=',
    '/v1/predict?detect=1&detect=0',
    '/v1/predict/../model',
    '/model/..%2fpreprocess.json',
    '/model/notes.txt',
    '/vendor/face-api-model/..%2f..%2fpackage.json',
    '/%00',
    '/healthz',
    '/v1/model',
    '/openapi.json',
    '/v1/predict?' + 'a=1&'.repeat(200),
  ];
  let served = 0;
  try {
    for (let i = 0; i < 3000; i++) {
      let body: Buffer = Buffer.from(mutate(rand, pick(rand, bodies)));
      const type = pick(rand, types);
      if (type.startsWith('multipart') && rand() < 0.7) {
        const parts = [
          `--zz\r\nContent-Disposition: form-data; name="${pick(rand, ['image', 'detect', 'x', '__proto__'])}"; filename="a.jpg"\r\n\r\n`,
        ];
        body = Buffer.concat([
          Buffer.from(parts.join('')),
          body,
          Buffer.from(rand() < 0.5 ? '\r\n--zz--\r\n' : ''),
        ]);
      }
      const method =
        rand() < 0.85 ? 'POST' : pick(rand, ['GET', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'] as const);
      const url = pick(rand, urls);
      const what = `case ${i} (seed ${SEED + 3}) ${method} ${url} ${type} ${body.length} bytes`;
      const t0 = performance.now();
      const res = await app.inject({
        method,
        url,
        payload: method === 'GET' || method === 'HEAD' ? undefined : body,
        headers: type ? { 'content-type': type } : {},
      });
      assert.ok(performance.now() - t0 < CASE_MS, `${what}: took ${performance.now() - t0} ms`);
      assert.ok(res.statusCode < 500, `${what}: ${res.statusCode} ${res.body.slice(0, 200)}`);
      if (res.statusCode >= 400 && method !== 'HEAD') {
        const err = res.json().error;
        assert.equal(typeof err.code, 'string', what);
        assert.equal(typeof err.message, 'string', what);
      }
      if (res.statusCode === 200 && url.startsWith('/v1/predict')) served++;
    }
  } finally {
    await app.close();
    await bundle.cleanup();
  }
  assert.ok(served > 0, 'some mutated images still decode and are answered');
});

test('fuzz: 80 damaged model folders: loadPredictor refuses each with one line, or loads one that answers sanely', async () => {
  const { loadPredictor } = await import('../src/api/predict.js');
  const { writeTestBundle } = await import('./helpers/predict-bundle.js');
  const { execFileSync } = await import('node:child_process');
  const base = await writeTestBundle(path.join(dir, 'model-base'), { imageSize: 16 });
  const files = ['model.json', 'weights.bin', 'preprocess.json', 'metrics.json'] as const;
  const crop = await fs.readFile(path.join(utkfaceDir, pickUtkface(1, 5)[0]!.file));
  const rand = mulberry32(SEED + 4);
  const edits: ((d: string) => Promise<void>)[] = [
    // Truncated or byte-flipped files.
    async (d) => {
      const f = path.join(d, pick(rand, files));
      if (!(await fs.stat(f).catch(() => null))?.isFile()) return;
      const b = await fs.readFile(f);
      await fs.writeFile(f, b.subarray(0, Math.floor(rand() * b.length)));
    },
    async (d) => {
      const f = path.join(d, pick(rand, files));
      if (!(await fs.stat(f).catch(() => null))?.isFile()) return;
      const b = Buffer.from(await fs.readFile(f));
      for (let k = 0; k < 1 + rand() * 8; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      await fs.writeFile(f, b);
    },
    // Weight paths that leave the folder or do not exist; a weights file of the wrong size.
    async (d) => {
      const f = path.join(d, 'model.json');
      if (!(await fs.stat(f).catch(() => null))?.isFile()) return;
      const m = JSON.parse(await fs.readFile(f, 'utf8'));
      m.weightsManifest[0].paths = [
        pick(rand, ['../model-base/weights.bin', '/etc/hostname', 'nope.bin', '']),
      ];
      await fs.writeFile(f, JSON.stringify(m));
    },
    async (d) => {
      const f = path.join(d, 'weights.bin');
      // (Never open a FIFO an earlier edit made: writing to it would wait for a reader.)
      if ((await fs.stat(f).catch(() => null))?.isFile())
        await fs.appendFile(f, Buffer.alloc(1 + Math.floor(rand() * 64)));
    },
    // Special files and folders where files belong; a missing file.
    async (d) => {
      const f = path.join(d, pick(rand, files));
      await fs.rm(f, { recursive: true, force: true });
      const kind = pick(rand, ['fifo', 'dir', 'none']);
      if (kind === 'fifo') execFileSync('mkfifo', [f]);
      else if (kind === 'dir') await fs.mkdir(f);
    },
    // preprocess.json with values out of their ranges or of the wrong type.
    async (d) => {
      const f = path.join(d, 'preprocess.json');
      if (!(await fs.stat(f).catch(() => null))?.isFile()) return;
      const s = JSON.parse(await fs.readFile(f, 'utf8'));
      const key = pick(rand, ['imageSize', 'normalization', 'age', 'faceCrop', 'resize', 'genderLabels']);
      s[key] = pick(rand, [0, -1, 1e9, 'x', null, [], { scale: -1 }, { classes: 3 }]);
      await fs.writeFile(f, JSON.stringify(s));
    },
  ];
  let loaded = 0;
  for (let i = 0; i < 80; i++) {
    const d = path.join(dir, `model-${i}`);
    await fs.cp(base, d, { recursive: true });
    const n = 1 + Math.floor(rand() * 2);
    for (let k = 0; k < n; k++) await pick(rand, edits)(d);
    const what = `case ${i} (seed ${SEED + 4})`;
    const t0 = performance.now();
    const predictor = await loadPredictor({ modelDir: d }).catch((err: unknown) => {
      if (!(err instanceof UserError))
        throw new Error(`${what}: crashed with ${(err as Error)?.stack ?? err}`);
      assert.ok(!err.message.includes('\n'), `${what}: multi-line error ${err.message}`);
      return null;
    });
    if (predictor) {
      loaded++;
      try {
        const faces = await predictor.predict(crop, { detect: false });
        for (const f of faces) assert.ok(Number.isFinite(f.age) && Number.isFinite(f.pMale), what);
      } catch (err) {
        if (!(err instanceof UserError)) throw new Error(`${what}: predict crashed with ${err}`);
      } finally {
        await predictor.dispose();
      }
    }
    assert.ok(performance.now() - t0 < 10_000, `${what}: took ${performance.now() - t0} ms`);
  }
  assert.ok(loaded < 80, 'some damaged folders are refused');
});
