import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  charRows,
  matNumbers,
  matStrings,
  parseMat,
  readMat,
  type MatValue,
} from '../src/data/formats/mat5.js';
import { mulberry32 } from '../src/util/random.js';
import { UserError } from '../src/util/errors.js';
import { repoRoot, tempDir, wikiMatPath } from './helpers/fixtures.js';

const fixtures = path.join(repoRoot, 'test', 'fixtures', 'mat');

/** Our value in the shape make.py writes scipy's reading in (see test/fixtures/mat/make.py `plain`). */
function plain(v: MatValue): unknown {
  const num = (x: number | bigint, integer: boolean) =>
    integer
      ? String(x)
      : Number.isNaN(x)
        ? 'NaN'
        : x === Infinity
          ? 'Infinity'
          : x === -Infinity
            ? '-Infinity'
            : x;
  switch (v.kind) {
    case 'numeric': {
      const integer = v.class !== 'double' && v.class !== 'single';
      const out: Record<string, unknown> = {
        kind: 'numeric',
        class: v.class,
        dims: v.dims,
        real: Array.from(v.real as ArrayLike<number | bigint>, (x) => num(x, integer)),
      };
      if (v.imag) out.imag = Array.from(v.imag as ArrayLike<number | bigint>, (x) => num(x, integer));
      return out;
    }
    case 'logical': // scipy reads logicals back as uint8
      return { kind: 'numeric', class: 'uint8', dims: v.dims, real: Array.from(v.data, String) };
    case 'char':
      return { kind: 'char', rows: charRows(v) };
    case 'cell':
      return { kind: 'cell', dims: v.dims, items: v.items.map(plain) };
    case 'struct':
      return {
        kind: 'struct',
        dims: v.dims,
        fields: v.fieldNames,
        elements: v.elements.map((e) => Object.fromEntries(v.fieldNames.map((f) => [f, plain(e[f]!)]))),
      };
  }
}

const expected = JSON.parse(await fs.readFile(path.join(fixtures, 'expected.json'), 'utf8')) as Record<
  string,
  Record<string, unknown>
>;

for (const name of ['uncompressed.mat', 'compressed.mat']) {
  test(`reads scipy's ${name} exactly as scipy reads it back`, async () => {
    const vars = await readMat(path.join(fixtures, name));
    assert.deepEqual(Object.keys(vars).sort(), Object.keys(expected[name]!).sort());
    for (const [k, v] of Object.entries(vars))
      assert.deepEqual(plain(v), expected[name]![k], `variable ${k}`);
    assert.equal(vars.flag!.kind, 'logical');
    assert.deepEqual(matStrings(vars.people!), [
      'Penélope Cruz',
      'Jure Robič',
      '李小龍',
      'Ωmega 😀',
      'Plain Name',
    ]);
    assert.deepEqual(matNumbers(vars.i64!), [-(2 ** 40), 2 ** 40]);
  });
}

test('reads the real wiki.mat: 62,328 rows of the eight IMDB-WIKI fields, non-ASCII names intact', async () => {
  const vars = await readMat(wikiMatPath);
  const wiki = vars.wiki!;
  assert.equal(wiki.kind, 'struct');
  if (wiki.kind !== 'struct') return;
  assert.deepEqual(wiki.dims, [1, 1]);
  assert.deepEqual(wiki.fieldNames, [
    'dob',
    'photo_taken',
    'full_path',
    'gender',
    'name',
    'face_location',
    'face_score',
    'second_face_score',
  ]);
  const rec = wiki.elements[0]!;
  for (const f of wiki.fieldNames) assert.deepEqual(rec[f]!.dims, [1, 62328], f);
  const paths = matStrings(rec.full_path!);
  // A few real names are odd (e.g. 63/670663_2015-02-16UTC08:04_1941.jpg), so only the frame is strict.
  assert.ok(
    paths.every((p) => /^\d\d\/\d+_.+_\d{4}\.jpg$/.test(p)),
    'full_path like 17/10000217_1981-05-05_2009.jpg',
  );
  const names = matStrings(rec.name!);
  assert.ok(names.includes('Sami Jauhojärvi'), 'a MATLAB UTF-16 name with ä decodes');
  assert.ok(names.filter((n) => /[^\x00-\x7f]/.test(n)).length > 1000);
  const dob = matNumbers(rec.dob!);
  const taken = matNumbers(rec.photo_taken!);
  // full_path encodes both dates: check the datenum and photo_taken numbers against it on a sample of rows.
  for (let i = 0; i < paths.length; i += 997) {
    const m = /_(\d{4})-\d\d-\d\d_(\d{4})\.jpg$/.exec(paths[i]!);
    if (!m) continue;
    assert.equal(taken[i], Number(m[2]));
    const year = new Date((dob[i]! - 719529) * 86400e3).getUTCFullYear();
    assert.equal(year, Number(m[1]), `row ${i}`);
  }
  const loc = rec.face_location!;
  assert.equal(loc.kind, 'cell');
  if (loc.kind === 'cell') assert.deepEqual(loc.items[0]!.dims, [1, 4]);
  const gender = matNumbers(rec.gender!);
  assert.ok(gender.every((g) => g === 0 || g === 1 || Number.isNaN(g)));
});

test('a missing, empty, non-MAT, HDF5 or truncated file gives a one-line UserError naming it', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const good = await fs.readFile(path.join(fixtures, 'compressed.mat'));
    const cases: [string, Uint8Array | null][] = [
      ['missing.mat', null],
      ['empty.mat', new Uint8Array(0)],
      ['text.mat', Buffer.from('filename,age,gender\n'.repeat(20))],
      ['v73.mat', Buffer.concat([Buffer.from('\x89HDF\r\n\x1a\n', 'latin1'), Buffer.alloc(200)])],
      ['truncated.mat', good.subarray(0, 300)],
      ['header-only.mat', good.subarray(0, 132)],
    ];
    for (const [name, data] of cases) {
      const file = path.join(dir, name);
      if (data) await fs.writeFile(file, data);
      await assert.rejects(readMat(file), (err: unknown) => {
        assert.ok(err instanceof UserError, `${name}: ${String(err)}`);
        assert.ok(err.message.startsWith(file), err.message);
        assert.ok(!err.message.includes('\n'));
        return true;
      });
    }
  } finally {
    await cleanup();
  }
});

test('fuzz: truncations and byte flips of valid files give a result or a UserError, never a crash or hang', async () => {
  const rand = mulberry32(7);
  for (const name of ['uncompressed.mat', 'compressed.mat']) {
    const good = await fs.readFile(path.join(fixtures, name));
    let userErrors = 0;
    const t0 = Date.now();
    for (let k = 0; k < 400; k++) {
      let buf: Buffer;
      if (k % 4 === 0) buf = good.subarray(0, Math.floor(rand() * good.length));
      else {
        buf = Buffer.from(good);
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) {
          const at = 128 + Math.floor(rand() * (buf.length - 128));
          buf[at] = k % 2 ? buf[at]! ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256);
        }
      }
      try {
        parseMat(buf, name);
      } catch (err) {
        assert.ok(err instanceof UserError, `case ${k}: ${(err as Error).stack}`);
        userErrors++;
      }
    }
    assert.ok(userErrors > 50, `${name}: corruptions were noticed (${userErrors} errors)`);
    assert.ok(Date.now() - t0 < 20_000, 'no case hangs');
  }
});
