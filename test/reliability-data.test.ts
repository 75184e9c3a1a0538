import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { num } from '../src/cli/parse-number.js';
import { OUTPUT_SET, recoverOutputSet, replaceOutputSet } from '../src/data/output-set.js';
import { DEFAULT_CSV_COLUMNS, parseLabelCsv } from '../src/data/datasets/csv.js';
import { preprocessCsv, preprocessImdbWiki } from '../src/api/preprocess.js';
import { parseLabelsCsv } from '../src/data/labels-csv.js';
import { parseSplitRatio } from '../src/data/split.js';
import { confinedPath } from '../src/util/confine.js';
import { UserError } from '../src/util/errors.js';
import { pickUtkface, repoRoot, tempDir, utkfaceDir } from './helpers/fixtures.js';

const hostileMat = path.join(repoRoot, 'test', 'fixtures', 'mat', 'hostile_imdb.mat');
const opts = (outputDir: string) => ({
  outputDir,
  imgSize: 16,
  quality: 80,
  splitRatio: parseSplitRatio('0.5,0.5'),
  seed: 1,
});

/** Every file under `dir` (relative path -> content), skipping `skip` (the output folder). */
async function snapshot(dir: string, skip: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    const parent = (e as { parentPath?: string }).parentPath ?? (e as unknown as { path: string }).path;
    const full = path.join(parent, e.name);
    if (full === skip || full.startsWith(skip + path.sep) || !e.isFile()) continue;
    out.set(path.relative(dir, full), (await fs.readFile(full)).toString('base64'));
  }
  return out;
}

test('confinedPath keeps data-file paths inside their folder', () => {
  assert.equal(confinedPath('/base', 'a/b.jpg'), '/base/a/b.jpg');
  assert.equal(confinedPath('/base', 'a/../b.jpg'), '/base/b.jpg');
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'C:\\x', '\\\\server\\x', '', '.', 'a\0b'])
    assert.equal(confinedPath('/base', bad), null, bad);
});

test('preprocess imdb-wiki: full_path entries with ../ or / are skipped and reported, nothing outside is read or written', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // dir/a/photos is --photo-dir, dir/a/out is --output-dir; victims sit where the crafted paths lead.
    const photos = path.join(dir, 'a', 'photos');
    const out = path.join(dir, 'a', 'out');
    const face = path.join(utkfaceDir, pickUtkface(1)[0]!.file);
    for (const p of ['01/ok.jpg', '02/fine.jpg']) {
      await fs.mkdir(path.join(photos, path.dirname(p)), { recursive: true });
      await fs.copyFile(face, path.join(photos, p));
    }
    await fs.copyFile(face, path.join(dir, 'victim.jpg')); // read by ../../victim.jpg
    await fs.copyFile(face, path.join(dir, 'a', 'escape.jpg')); // read by 01/../../escape.jpg
    await fs.writeFile(path.join(dir, 'a', 'victim.jpg'), 'a file of the user'); // written by crop/../../
    const before = await snapshot(dir, out);
    const s = await preprocessImdbWiki({ dbPath: hostileMat, photoDir: photos, ...opts(out) });
    assert.equal(s.counts.badPath, 3);
    assert.equal(s.counts.kept, 2);
    assert.deepEqual(s.input.pathsOutsidePhotoDir, [
      '../../victim.jpg',
      '/etc/passwd',
      '01/../../escape.jpg',
    ]);
    assert.deepEqual(await snapshot(dir, out), before, 'nothing outside the output folder changed');
    const crops = (await fs.readdir(path.join(out, 'crop'), { recursive: true })).filter((f) =>
      f.endsWith('.jpg'),
    );
    assert.deepEqual(crops.sort(), ['01/ok.jpg', '02/fine.jpg']);
  } finally {
    await cleanup();
  }
});

test('preprocess csv: paths out of --photo-dir (../, absolute) are skipped and counted, never read', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const photos = path.join(dir, 'photos');
    await fs.mkdir(photos);
    const face = path.join(utkfaceDir, pickUtkface(1)[0]!.file);
    await fs.copyFile(face, path.join(photos, 'ok.jpg'));
    await fs.copyFile(face, path.join(dir, 'secret.jpg'));
    const csv = path.join(dir, 'labels.csv');
    const secret = path.join(dir, 'secret.jpg');
    await fs.writeFile(
      csv,
      `filename,age,gender\nok.jpg,30,1\n../secret.jpg,30,1\n${secret},30,0\n/etc/passwd,30,0\nx/../../secret.jpg,3,0\n`,
    );
    const out = path.join(dir, 'out');
    const s = await preprocessCsv({
      csv,
      photoDir: photos,
      ...opts(out),
      splitRatio: parseSplitRatio('1,0'),
    });
    assert.equal(s.counts.badPath, 4);
    assert.equal(s.counts.kept, 1);
    assert.match(
      (s.input.rejectedRows as string[]).join('\n'),
      /line 3: \.\.\/secret\.jpg is not a path inside the photo folder/,
    );
    const crops = (await fs.readdir(path.join(out, 'crop'), { recursive: true })).filter((f) =>
      f.endsWith('.jpg'),
    );
    assert.deepEqual(crops, ['ok.jpg']);
  } finally {
    await cleanup();
  }
});

test('preprocess csv refuses an --output-dir where it would overwrite its own input CSV', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // An earlier run's train.csv, fed back as the input of a run into the same folder.
    await fs.writeFile(path.join(dir, 'labels.csv'), 'filename,age,gender\na.jpg,30,1\nb.jpg,40,0\n');
    const out = path.join(dir, 'out');
    const first = { photoDir: dir, ...opts(out), labelsOnly: true, splitRatio: parseSplitRatio('1,0') };
    await preprocessCsv({ csv: path.join(dir, 'labels.csv'), ...first });
    const csv = path.join(out, 'train.csv');
    const text = await fs.readFile(csv, 'utf8');
    await assert.rejects(
      preprocessCsv({ csv, ...first }),
      (e: unknown) => e instanceof UserError && /--csv .*train\.csv: is one of the files/.test(e.message),
    );
    assert.equal(await fs.readFile(csv, 'utf8'), text, 'the input is untouched');
  } finally {
    await cleanup();
  }
});

test('ages and flags are plain decimals: 1e1, 0x1F, 0b11 and empty text are refused', () => {
  for (const age of ['1e1', '0x1F', '0b11', 'Infinity', ' '])
    assert.throws(
      () => parseLabelsCsv(`filename,age,gender\na.jpg,${age},1\n`, 't.csv'),
      /t\.csv:2: age/,
      age,
    );
  assert.equal(parseLabelsCsv('filename,age,gender\na.jpg,31,1\n', 't.csv')[0]!.age, 31);
  const r = parseLabelCsv(
    'filename,age,gender\na,1e1,1\nb,0x1F,1\nc,0b11,0\nd,31.6,0\n',
    'l.csv',
    '.',
    DEFAULT_CSV_COLUMNS,
  );
  assert.equal(r.counts.badAge, 3);
  assert.deepEqual(
    r.rows.map((x) => x.age),
    [32],
  );
  for (const text of ['', '1e1', '0x1F', '0b11', ' ', 'NaN'])
    assert.throws(
      () => num('--batch-size', text, { int: true, min: 1 }),
      /^UserError: --batch-size ".*": expected an integer >= 1$/,
    );
  assert.throws(
    () => num('--min-score', '2', { min: 0, max: 1 }),
    /--min-score "2": expected a number in 0\.\.1/,
  );
  assert.equal(num('--min-score', '0.25', { min: 0, max: 1 }), 0.25);
  // A learning rate may be written 1e-3; hex and binary stay refused there too.
  assert.equal(num('--lr', '1e-3', { min: 1e-8, max: 10, exponent: true }), 0.001);
  assert.throws(() => num('--lr', '0x1', { min: 1e-8, max: 10, exponent: true }), /--lr "0x1"/);
  assert.throws(() => parseSplitRatio('8e-1,2e-1'), /--split-ratio/);
});

/** Old and new contents of one output set, marked so a test can tell which run a file came from. */
function outputSet(run: string, withTest = true) {
  const files: Record<string, string | null> = {};
  for (const n of OUTPUT_SET) files[n] = `${run}:${n}`;
  if (!withTest) files['test.csv'] = null;
  return files;
}

/** What a reader would find: each present file's run, and whether summary.json is there. */
async function visible(out: string): Promise<{ runs: Set<string>; names: string[]; summary: boolean }> {
  const names = (await fs.readdir(out)).filter((n) => (OUTPUT_SET as readonly string[]).includes(n));
  const runs = new Set<string>();
  for (const n of names) runs.add((await fs.readFile(path.join(out, n), 'utf8')).split(':')[0]!);
  return { runs, names: names.sort(), summary: names.includes('summary.json') };
}

test('the output set is replaced as a whole: at every step a kill could land, never two runs side by side', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await replaceOutputSet(dir, outputSet('old'));
    const states: Awaited<ReturnType<typeof visible>>[] = [];
    await replaceOutputSet(dir, outputSet('new', false), async () => {
      states.push(await visible(dir));
    });
    assert.ok(states.length >= 10, `${states.length} steps observed`);
    for (const s of states) {
      assert.ok(s.runs.size <= 1, `files of two runs at once: ${s.names.join(', ')}`);
      if (s.summary)
        assert.ok(
          s.names.length === 6 || (s.runs.has('new') && s.names.length === 5),
          'summary.json only with a complete set',
        );
    }
    const end = await visible(dir);
    assert.deepEqual([...end.runs], ['new']);
    assert.deepEqual(
      end.names,
      OUTPUT_SET.filter((n) => n !== 'test.csv').sort(),
      'the old test.csv is gone',
    );
    assert.deepEqual(
      (await fs.readdir(dir)).filter((n) => n.startsWith('.')),
      [],
      'no staging folder left',
    );
  } finally {
    await cleanup();
  }
});

test('kill -9 in the middle of the switch: the next run finishes it (roll forward), never a mix', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await replaceOutputSet(dir, outputSet('old'));
    const mod = path.join(repoRoot, 'src', 'data', 'output-set.ts');
    const script = `import { replaceOutputSet, OUTPUT_SET } from ${JSON.stringify(mod)};
      const files = Object.fromEntries(OUTPUT_SET.map((n) => [n, 'new:' + n]));
      let k = 0;
      await replaceOutputSet(${JSON.stringify(dir)}, files, (step) => {
        if (step.startsWith('rename') && ++k === 3) process.kill(process.pid, 'SIGKILL');
      });`;
    const code = await new Promise<string | null>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: repoRoot,
        stdio: 'ignore',
      });
      child.on('close', (_c, signal) => resolve(signal));
    });
    assert.equal(code, 'SIGKILL');
    const mid = await visible(dir);
    assert.deepEqual([...mid.runs], ['new'], 'only new files visible after the kill');
    assert.equal(mid.names.length, 2, 'two renamed in before the kill');
    assert.equal(mid.summary, false);
    await recoverOutputSet(dir);
    const end = await visible(dir);
    assert.deepEqual([...end.runs], ['new']);
    assert.equal(end.names.length, 6);
  } finally {
    await cleanup();
  }
});
