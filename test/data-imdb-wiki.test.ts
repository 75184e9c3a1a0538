import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import {
  ageAtPhoto,
  applyImdbWikiRules,
  datenumToYearMonth,
  readImdbWiki,
  type ImdbWikiTable,
} from '../src/data/formats/imdb-wiki-table.js';
import { readLabelsCsv } from '../src/data/labels-csv.js';
import { pickUtkface, repoRoot, tempDir, utkfaceDir, wikiMatPath } from './helpers/fixtures.js';

const run = promisify(execFile);
const fixtures = path.join(repoRoot, 'test', 'fixtures', 'mat');

/** Runs the CLI from source; resolves with stdout/stderr/exit code (never throws on a non-zero exit). */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const main = pathToFileURL(path.join(repoRoot, 'src', 'cli', 'main.ts')).href;
  const code = `import(${JSON.stringify(main)}).then((m) => m.main(['node', 'agegender', ...process.argv.slice(1)]))`;
  try {
    const r = await run(process.execPath, ['--import', 'tsx', '-e', code, ...args], { cwd: repoRoot });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** MATLAB datenum of a calendar date (days from year 0; 719529 is 1970-01-01). */
const datenum = (y: number, m: number, d: number) => 719529 + Date.UTC(y, m - 1, d) / 86_400_000;

test('datenums map to calendar dates and the age rule subtracts one for a birthday after June', () => {
  assert.deepEqual(datenumToYearMonth(719529), { year: 1970, month: 1 });
  // The first row of the real wiki.mat: 17/10000217_1981-05-05_2009.jpg has dob 723671.
  assert.deepEqual(datenumToYearMonth(723671), { year: 1981, month: 5 });
  assert.equal(ageAtPhoto(723671, 2009), 28);
  assert.equal(ageAtPhoto(datenum(1990, 6, 30), 2000), 10);
  assert.equal(ageAtPhoto(datenum(1990, 7, 1), 2000), 9);
  assert.ok(Number.isNaN(ageAtPhoto(NaN, 2000)));
  assert.ok(Number.isNaN(ageAtPhoto(datenum(1990, 1, 1), NaN)));
});

test('each rule drops what it should, counted under the first rule a row fails', () => {
  const b = datenum(1970, 3, 1);
  // [face_score, second_face_score, birth, photo_taken, gender] -> the rule expected to drop it (or null).
  const cases: [number, number, number, number, number, string | null][] = [
    [2, NaN, b, 2000, 1, null],
    [1, NaN, b, 2000, 0, null], // score exactly at the threshold is kept
    [3, 0, b, 2000, 1, null], // a second face with score 0 does not count
    [3, -Infinity, b, 2000, 1, null],
    [0.99, NaN, b, 2000, 1, 'faceScore'],
    [-Infinity, NaN, b, 2000, 1, 'faceScore'], // no face found
    [NaN, NaN, b, 2000, 1, 'faceScore'],
    [3, 0.01, b, 2000, 1, 'secondFace'],
    [3, NaN, b, 1969, 1, 'age'], // -1
    [3, NaN, b, 1970, 1, null], // 0
    [3, NaN, b, 2070, 1, null], // 100
    [3, NaN, b, 2071, 1, 'age'], // 101
    [3, NaN, NaN, 2000, 1, 'age'],
    [3, NaN, b, 2000, NaN, 'gender'],
    [0.5, 2, b, 2090, NaN, 'faceScore'], // fails all four: counted once, under the first
  ];
  const t: ImdbWikiTable = {
    source: 'wiki',
    rows: cases.length,
    faceScore: cases.map((c) => c[0]),
    secondFaceScore: cases.map((c) => c[1]),
    dob: cases.map((c) => c[2]),
    photoTaken: cases.map((c) => c[3]),
    gender: cases.map((c) => c[4]),
    fullPath: cases.map((_, i) => `00/${i}.jpg`),
    identity: cases.map((_, i) => `name:${i}`),
    faceLocation: cases.map(() => null),
  };
  const r = applyImdbWikiRules(t, 1.0);
  assert.deepEqual(
    r.kept.map((k) => k.index),
    cases.flatMap((c, i) => (c[5] === null ? [i] : [])),
  );
  for (const rule of ['faceScore', 'secondFace', 'age', 'gender'] as const)
    assert.equal(r.dropped[rule], cases.filter((c) => c[5] === rule).length, rule);
  assert.equal(r.failing.gender, 2);
  assert.equal(r.failing.age, 4);
  assert.deepEqual(
    r.kept.map((k) => k.age),
    [30, 30, 30, 30, 0, 100],
  );
});

test('on the real wiki.mat the rule counts equal an independent scipy computation', async () => {
  // Made by: /usr/bin/python3 bench/preprocess-wiki-rules-check.py ../shared/data/imdb-wiki/wiki.mat 1.0
  const scipy = JSON.parse(await fs.readFile(path.join(fixtures, 'wiki-rules-scipy.json'), 'utf8'));
  const t = await readImdbWiki(wikiMatPath);
  assert.equal(t.source, 'wiki');
  const r = applyImdbWikiRules(t, 1.0);
  const male = r.kept.filter((k) => k.gender === 1).length;
  assert.deepEqual(
    {
      read: t.rows,
      dropped: r.dropped,
      failing: r.failing,
      kept: r.kept.length,
      male,
      female: r.kept.length - male,
    },
    scipy,
  );
});

test('preprocess imdb-wiki end to end: rules, identity split, crops, missing and corrupt images counted', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // Photos for tiny_imdb.mat's full_path entries: real UTKFace crops, one missing, one corrupt.
    const table = await readImdbWiki(path.join(fixtures, 'tiny_imdb.mat'));
    const faces = pickUtkface(table.rows);
    const photos = path.join(dir, 'imdb_crop');
    for (const [i, p] of table.fullPath.entries()) {
      await fs.mkdir(path.join(photos, path.dirname(p)), { recursive: true });
      if (p === '02/b2.jpg') continue; // missing
      if (p === '03/c1.jpg') await fs.writeFile(path.join(photos, p), 'not a jpeg');
      else await fs.symlink(path.join(utkfaceDir, faces[i]!.file), path.join(photos, p));
    }
    const out = path.join(dir, 'var');
    const args = ['preprocess', 'imdb-wiki', '--db-path', path.join(fixtures, 'tiny_imdb.mat')];
    const res = await cli([
      ...args,
      '--photo-dir',
      photos,
      '--output-dir',
      out,
      '--img-size',
      '32',
      '--json',
    ]);
    assert.equal(res.code, 0, res.stderr);
    const s = JSON.parse(res.stdout);
    // Documented in make.py: 12 rows; 2 fail the face score, 1 has a second face, 2 bad ages, 1 no gender.
    assert.deepEqual(s.counts, {
      read: 12,
      droppedFaceScore: 2,
      droppedSecondFace: 1,
      droppedAge: 2,
      droppedGender: 1,
      badPath: 0,
      labelled: 6,
      missing: 1,
      unreadable: 1,
      droppedConflictingDuplicates: 0,
      kept: 4,
    });
    assert.equal(s.input.identityColumn, 'celeb_id');
    const parts = await Promise.all(
      ['train', 'val', 'test'].map((p) => readLabelsCsv(path.join(out, `${p}.csv`)).catch(() => [])),
    );
    const all = parts.flat();
    assert.deepEqual(all.map((r) => r.filename).sort(), ['01/a1.jpg', '01/a2.jpg', '02/b1.jpg', '03/c2.jpg']);
    assert.deepEqual(Object.fromEntries(all.map((r) => [r.filename, [r.age, r.gender]])), {
      '01/a1.jpg': [30, 1],
      '01/a2.jpg': [35, 1],
      '02/b1.jpg': [29, 0],
      '03/c2.jpg': [9, 1],
    });
    // celeb 1's two photos sit on the same side
    const side = (f: string) => parts.findIndex((p) => p.some((r) => r.filename === f));
    assert.equal(side('01/a1.jpg'), side('01/a2.jpg'));
    const meta = await sharp(path.join(out, 'crop', '01/a1.jpg')).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [32, 32, 'jpeg']);

    // Re-cropping from face_location with a margin gives a different (zoomed) crop of the same size.
    const out2 = path.join(dir, 'var2');
    const res2 = await cli([
      ...args,
      '--photo-dir',
      photos,
      '--output-dir',
      out2,
      '--img-size',
      '32',
      '--recrop-margin',
      '0.1',
      '--json',
    ]);
    assert.equal(res2.code, 0, res2.stderr);
    const a = await sharp(path.join(out, 'crop', '01/a1.jpg'))
      .raw()
      .toBuffer();
    const b = await sharp(path.join(out2, 'crop', '01/a1.jpg'))
      .raw()
      .toBuffer();
    assert.equal(a.length, b.length);
    assert.ok(
      a.some((v, i) => Math.abs(v - b[i]!) > 40),
      'the re-cropped face differs',
    );
  } finally {
    await cleanup();
  }
});

test('--labels-only on the real wiki.mat writes CSVs and summary; a missing photo dir says to use it', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = path.join(dir, 'wiki');
    const args = [
      'preprocess',
      'imdb-wiki',
      '--db-path',
      wikiMatPath,
      '--output-dir',
      out,
      '--min-score',
      '1.0',
    ];
    const bad = await cli([...args, '--photo-dir', path.join(dir, 'nope')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr.trim(), /^agegender: .*nope: photo folder not found \(pass --labels-only/);
    const res = await cli([...args, '--labels-only', '--json', '--split-ratio', '0.9,0.1']);
    assert.equal(res.code, 0, res.stderr);
    const s = JSON.parse(res.stdout);
    const train = await readLabelsCsv(path.join(out, 'train.csv'));
    const val = await readLabelsCsv(path.join(out, 'val.csv'));
    assert.equal(train.length + val.length, s.counts.kept);
    await assert.rejects(fs.stat(path.join(out, 'test.csv')), 'no test.csv with a two-part ratio');
    assert.ok(Math.abs(val.length / s.counts.kept - 0.1) < 0.005);
    // Split by name: nobody on both sides.
    const table = await readImdbWiki(wikiMatPath);
    const who = new Map(table.fullPath.map((p, i) => [p, table.identity[i]!]));
    const trainPeople = new Set(train.map((r) => who.get(r.filename)));
    assert.ok(
      val.every((r) => !trainPeople.has(who.get(r.filename))),
      'a person in train and val',
    );
    assert.equal(trainPeople.size, s.split.train.identities);
    assert.equal(
      s.ageHistogram.reduce((x: number, y: number) => x + y, 0),
      s.counts.kept,
    );
    const svg = await fs.readFile(path.join(out, 'age-histogram.svg'), 'utf8');
    assert.match(svg, /^<svg /);
    const png = await sharp(path.join(out, 'age-histogram.png')).metadata();
    assert.equal(png.format, 'png');
  } finally {
    await cleanup();
  }
});

test('a bad --db-path is a one-line error naming the file', async () => {
  const res = await cli([
    'preprocess',
    'imdb-wiki',
    '--db-path',
    path.join(repoRoot, 'package.json'),
    '--output-dir',
    '/tmp/x',
    '--labels-only',
  ]);
  assert.equal(res.code, 1);
  assert.equal(res.stderr.trim().split('\n').length, 1);
  assert.match(res.stderr, /package\.json: not a MAT v5 file/);
});
