import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile, spawn } from 'node:child_process';
import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { parseUtkfaceName } from '../src/data/datasets/utkface.js';
import { readLabelsCsv } from '../src/data/labels-csv.js';
import { pickUtkface, repoRoot, tempDir, utkfaceDir } from './helpers/fixtures.js';

const run = promisify(execFile);
const mainUrl = pathToFileURL(path.join(repoRoot, 'src', 'cli', 'main.ts')).href;
const launcher = `import(${JSON.stringify(mainUrl)}).then((m) => m.main(['node', 'agegender', ...process.argv.slice(1)]))`;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', '-e', launcher, ...args], { cwd: repoRoot });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The malformed names that ship in the real UTKFace folder (found by listing it, not hard-coded). */
const realMalformed = readdirSync(utkfaceDir).filter((n) => !parseUtkfaceName(n).ok);

test('UTKFace names: labels from the name, gender flipped to the seed convention, malformed rejected', () => {
  assert.deepEqual(parseUtkfaceName('26_0_2_20170104023102422.jpg.chip.jpg'), {
    ok: true,
    age: 26,
    gender: 1,
    race: 2,
  });
  assert.deepEqual(parseUtkfaceName('1_1_4_201701161846515488.jpg.chip.jpg'), {
    ok: true,
    age: 1,
    gender: 0,
    race: 4,
  });
  for (const bad of [
    '39_1_20170116174525125.jpg.chip.jpg', // no race
    '24_0_1_20170116220224657 .jpg.chip.jpg', // stray space
    '55_0_0_20170116232725357jpg.chip.jpg', // no dot
    '30_2_0_20170116232725357.jpg.chip.jpg', // gender 2
    'x_0_0_20170116232725357.jpg.chip.jpg',
    'photo.jpg',
  ])
    assert.equal(parseUtkfaceName(bad).ok, false, bad);
  assert.ok(
    realMalformed.length >= 1 && realMalformed.length < 50,
    `the real folder has a few malformed names (${realMalformed.length})`,
  );
});

/** A UTKFace-like folder of symlinks to real crops, plus the real malformed names, a corrupt file and age 105. */
async function makeFolder(dir: string, n: number) {
  const photos = path.join(dir, 'utk');
  await fs.mkdir(photos);
  const picks = pickUtkface(n);
  for (const s of picks) await fs.symlink(path.join(utkfaceDir, s.file), path.join(photos, s.file));
  for (const m of realMalformed) await fs.symlink(path.join(utkfaceDir, m), path.join(photos, m));
  await fs.writeFile(path.join(photos, '33_1_0_20170116174525125.jpg.chip.jpg'), 'corrupt');
  await fs.symlink(
    path.join(utkfaceDir, picks[0]!.file),
    path.join(photos, '105_1_0_20170116174525125.jpg.chip.jpg'),
  );
  return { photos, picks };
}

test('preprocess utkface: counts, seed-schema CSVs, crops of the asked size, resume, settings change', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const { photos, picks } = await makeFolder(dir, 24);
    const out = path.join(dir, 'var');
    const args = [
      'preprocess',
      'utkface',
      '--photo-dir',
      photos,
      '--output-dir',
      out,
      '--img-size',
      '48',
      '--json',
    ];
    const r1 = await cli(args);
    assert.equal(r1.code, 0, r1.stderr);
    const s1 = JSON.parse(r1.stdout);
    assert.deepEqual(s1.counts, {
      read: picks.length + realMalformed.length + 2,
      malformed: realMalformed.length,
      ageOver100: 1,
      labelled: picks.length + 1,
      missing: 0,
      unreadable: 1,
      droppedConflictingDuplicates: 0,
      kept: picks.length,
    });
    assert.equal(s1.duplicates.conflictingClusters, 0);
    assert.equal(s1.crops.written, picks.length);
    assert.match(s1.examples.unreadable[0].file, /33_1_0_/);
    const rows = (
      await Promise.all(['train', 'val', 'test'].map((p) => readLabelsCsv(path.join(out, `${p}.csv`))))
    ).flat();
    assert.deepEqual(
      rows.map((r) => [r.filename, r.age, r.gender]).sort(),
      picks.map((p) => [p.file, p.age, p.gender]).sort(),
    );
    const meta = await sharp(path.join(out, 'crop', picks[3]!.file)).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [48, 48, 'jpeg']);

    // Re-run: nothing redone. Then lose one crop and leave a temp file behind as a kill would.
    const victim = path.join(out, 'crop', picks[5]!.file);
    const before = (await fs.stat(path.join(out, 'crop', picks[6]!.file))).mtimeMs;
    await fs.rm(victim);
    const stale = path.join(out, 'crop', `.${picks[5]!.file}.999.0.tmp`);
    await fs.writeFile(stale, 'half a jpeg');
    const s2 = JSON.parse((await cli(args)).stdout);
    assert.deepEqual([s2.crops.written, s2.crops.reused], [1, picks.length - 1]);
    assert.equal((await fs.stat(path.join(out, 'crop', picks[6]!.file))).mtimeMs, before);
    await assert.rejects(fs.stat(stale), 'stale temp file removed');
    assert.equal((await sharp(victim).metadata()).width, 48);
    assert.deepEqual(s2.split, s1.split, 'same seed, same split');

    // Another size: old crops are not trusted.
    const s3 = JSON.parse((await cli([...args.slice(0, -3), '--img-size', '40', '--json'])).stdout);
    assert.equal(s3.crops.written, picks.length);
    assert.equal((await sharp(victim).metadata()).width, 40);
  } finally {
    await cleanup();
  }
});

test('a killed run leaves only whole crops and no CSVs, and the next run finishes the job', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const { photos, picks } = await makeFolder(dir, 200);
    const out = path.join(dir, 'var');
    // Upscaling to 400 px with one job at a time keeps the run long enough to kill it part-way.
    const args = [
      'preprocess',
      'utkface',
      '--photo-dir',
      photos,
      '--output-dir',
      out,
      '--img-size',
      '400',
      '--jobs',
      '1',
      '--json',
    ];
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', launcher, ...args], {
      cwd: repoRoot,
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.on('exit', r));
    const cropDir = path.join(out, 'crop');
    for (let i = 0; i < 3000; i++) {
      const n = (await fs.readdir(cropDir).catch(() => [])).filter((f) => !f.startsWith('.')).length;
      if (n >= 10) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;
    const made = (await fs.readdir(cropDir)).filter((f) => !f.startsWith('.'));
    assert.ok(made.length >= 10 && made.length < picks.length, `killed part-way (${made.length} crops)`);
    await assert.rejects(fs.stat(path.join(out, 'train.csv')), 'no CSV from a killed run');
    for (const f of made) {
      const { info } = await sharp(path.join(cropDir, f), { failOn: 'warning' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      assert.equal(info.width, 400, f);
    }
    const res = await cli(args);
    assert.equal(res.code, 0, res.stderr);
    const s = JSON.parse(res.stdout);
    // A crop renamed into place just before the kill, but not yet in the crop log, is made again (with
    // --jobs 1 at most one): it is reused only when the log proves it came from the same photo.
    assert.ok(
      s.crops.reused >= made.length - 1 && s.crops.reused <= made.length,
      `reused ${s.crops.reused} of ${made.length}`,
    );
    assert.equal(s.crops.written + s.crops.reused, picks.length);
    assert.equal((await fs.readdir(cropDir)).filter((f) => f.endsWith('.tmp')).length, 0);
  } finally {
    await cleanup();
  }
});

test('bad inputs: one-line errors naming the problem, non-zero exit', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // A bad flag value is a usage error (exit 2); a problem found while working exits 1.
    const cases: [string[], RegExp, number][] = [
      [['--photo-dir', path.join(dir, 'nope')], /nope: photo folder not found/, 1],
      [['--photo-dir', dir, '--img-size', 'big'], /--img-size "big": expected an integer/, 2],
      [['--photo-dir', dir, '--split-ratio', '0.8,0.3'], /--split-ratio "0.8,0.3": the ratios sum to 1.1/, 2],
      [['--photo-dir', dir], /no rows kept/, 1],
    ];
    // A crop folder this tool did not make is never wiped.
    await fs.mkdir(path.join(dir, 'theirs', 'crop'), { recursive: true });
    await fs.writeFile(path.join(dir, 'theirs', 'crop', 'keep.jpg'), 'precious');
    for (const [extra, re, code] of cases) {
      const r = await cli(['preprocess', 'utkface', '--output-dir', path.join(dir, 'out'), ...extra]);
      assert.equal(r.code, code, extra.join(' '));
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('agegender:'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, re);
    }
    const photos = path.join(dir, 'utk');
    await fs.mkdir(photos);
    const [p] = pickUtkface(1);
    await fs.symlink(path.join(utkfaceDir, p!.file), path.join(photos, p!.file));
    const r = await cli([
      'preprocess',
      'utkface',
      '--photo-dir',
      photos,
      '--output-dir',
      path.join(dir, 'theirs'),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /theirs: not empty and not made by agegender preprocess/);
    assert.equal(await fs.readFile(path.join(dir, 'theirs', 'crop', 'keep.jpg'), 'utf8'), 'precious');
  } finally {
    await cleanup();
  }
});
