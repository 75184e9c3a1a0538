import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { num } from '../src/cli/parse-number.js';
import { OUTPUT_SET, recoverOutputSet, replaceOutputSet } from '../src/data/output-set.js';
import { DEFAULT_CSV_COLUMNS, parseLabelCsv } from '../src/data/datasets/csv.js';
import {
  preprocess,
  preprocessAaf,
  preprocessCsv,
  preprocessImdbWiki,
  preprocessUtkface,
} from '../src/api/preprocess.js';
import { parseLabelsCsv } from '../src/data/labels-csv.js';
import { parseSplitRatio } from '../src/data/split.js';
import { confinedPath } from '../src/util/confine.js';
import { skipLog } from '../src/util/skip-log.js';
import { InvalidOptionError, UserError } from '../src/util/errors.js';
import { pickUtkface, repoRoot, tempDir, utkfaceDir } from './helpers/fixtures.js';
import { runCli as cli } from './helpers/spawn-cli.js';

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

/** A UTKFace-shaped folder of `n` real crops, linked; `offset` picks other photos under the same names. */
async function utkFolder(dir: string, n: number, offset = 0): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const names = pickUtkface(n).map((s) => s.file);
  const sources = pickUtkface(n, offset);
  for (const [i, name] of names.entries())
    await fs.symlink(path.join(utkfaceDir, sources[i]!.file), path.join(dir, name));
  return names;
}

test('preprocess re-crops a photo whose bytes changed under the same name (a crop is reused only for the same source)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = path.join(dir, 'u');
    const names = await utkFolder(path.join(dir, 'A'), 6);
    await utkFolder(path.join(dir, 'B'), 6, 101);
    const run = (photoDir: string) => preprocessUtkface({ photoDir, ...opts(out), dedup: false });
    const a = await run(path.join(dir, 'A'));
    assert.deepEqual([a.crops!.written, a.crops!.reused], [6, 0]);
    const cropA = await fs.readFile(path.join(out, 'crop', names[0]!));
    const b = await run(path.join(dir, 'B'));
    assert.deepEqual([b.crops!.written, b.crops!.reused], [6, 0], 'other photos, same names: all re-cropped');
    assert.notDeepEqual(await fs.readFile(path.join(out, 'crop', names[0]!)), cropA);
    const again = await run(path.join(dir, 'B'));
    assert.deepEqual([again.crops!.written, again.crops!.reused], [0, 6], 'the same photos: all reused');
  } finally {
    await cleanup();
  }
});

test('training CSV rows naming files outside the image folder (../, absolute) are refused with file and line', async () => {
  for (const bad of ['../../x.jpg', '/etc/passwd', 'a/../../x.jpg', 'C:\\x.jpg'])
    assert.throws(
      () => parseLabelsCsv(`filename,age,gender\nok.jpg,30,1\n${bad},30,1\n`, 't.csv'),
      (e: unknown) =>
        e instanceof UserError &&
        /^t\.csv:3: filename ".*" is not a path inside the image folder/.test(e.message),
      bad,
    );
  assert.equal(parseLabelsCsv('filename,age,gender\nsub/ok.jpg,30,1\n', 't.csv')[0]!.filename, 'sub/ok.jpg');
});

test('preprocess never replaces files it did not write: a folder of the user, or their train.csv in ours', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await utkFolder(path.join(dir, 'p'), 4);
    const mine = path.join(dir, 'mine');
    await fs.mkdir(mine);
    for (const f of ['train.csv', 'summary.json', 'age-histogram.png'])
      await fs.writeFile(path.join(mine, f), 'my own');
    const run = (outputDir: string) =>
      preprocessUtkface({ photoDir: path.join(dir, 'p'), ...opts(outputDir) });
    await assert.rejects(
      run(mine),
      (e: unknown) =>
        e instanceof UserError && /mine: not empty and not made by agegender preprocess/.test(e.message),
    );
    for (const f of ['train.csv', 'summary.json', 'age-histogram.png'])
      assert.equal(await fs.readFile(path.join(mine, f), 'utf8'), 'my own', f);
    assert.deepEqual((await fs.readdir(mine)).sort(), ['age-histogram.png', 'summary.json', 'train.csv']);
    // Our own folder: a file of the output set that the user put there later is not replaced either
    // (a 0.5/0.5 split writes no test.csv, and would remove an old one of its own).
    const ours = path.join(dir, 'ours');
    await run(ours);
    await fs.writeFile(path.join(ours, 'test.csv'), 'my own');
    await assert.rejects(
      run(ours),
      (e: unknown) =>
        e instanceof UserError &&
        /ours\/test\.csv: not written by agegender preprocess, so it is not replaced/.test(e.message),
    );
    assert.equal(await fs.readFile(path.join(ours, 'test.csv'), 'utf8'), 'my own');
    await fs.rm(path.join(ours, 'test.csv'));
    await fs.writeFile(path.join(ours, 'notes.txt'), 'kept');
    await run(ours);
    assert.equal(await fs.readFile(path.join(ours, 'notes.txt'), 'utf8'), 'kept');
  } finally {
    await cleanup();
  }
});

test('an output folder is locked: a second run is refused naming the holder; a dead holder is taken over', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await utkFolder(path.join(dir, 'p'), 6);
    const out = path.join(dir, 'out');
    const run = () => preprocessUtkface({ photoDir: path.join(dir, 'p'), ...opts(out) });
    const results = await Promise.allSettled([run(), run()]);
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    assert.equal(failed.length, 1, 'one of two runs into one folder is refused');
    assert.match(
      String(failed[0]!.reason.message),
      new RegExp(`out: in use by agegender preprocess utkface \\(pid ${process.pid} on .*\\); wait for it`),
    );
    assert.ok(failed[0]!.reason instanceof UserError);
    // A lock left by a process that no longer exists (kill -9) does not block the next run.
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('close', r));
    await fs.writeFile(
      path.join(out, '.agegender.lock'),
      JSON.stringify({
        pid: dead.pid,
        host: os.hostname(),
        command: 'agegender preprocess utkface',
        since: '',
      }),
    );
    const s = await run();
    assert.equal(s.counts.kept, 6);
    await assert.rejects(fs.stat(path.join(out, '.agegender.lock')), 'released after the run');
  } finally {
    await cleanup();
  }
});

test('user mistakes are one-line errors: output folder a file or under a file, empty AAF folder, FIFOs', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = path.join(dir, 'file');
    await fs.writeFile(file, 'x');
    await utkFolder(path.join(dir, 'p'), 2);
    for (const [outputDir, re] of [
      [file, /file: exists and is a file, not a folder$/],
      [path.join(file, 'sub'), /sub: .*file is a file, not a folder$/],
    ] as const) {
      await assert.rejects(
        preprocessUtkface({ photoDir: path.join(dir, 'p'), outputDir }),
        (e: unknown) => e instanceof UserError && re.test(e.message),
      );
      const r = await cli([
        'preprocess',
        'utkface',
        '--photo-dir',
        path.join(dir, 'p'),
        '--output-dir',
        outputDir,
      ]);
      assert.equal(r.code, 1);
      assert.match(r.stderr.trim(), new RegExp('^agegender: .*' + re.source));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const empty = path.join(dir, 'aaf');
    await fs.mkdir(empty);
    await assert.rejects(
      preprocessAaf({ photoDir: empty, outputDir: path.join(dir, 'o1') }),
      (e: unknown) => e instanceof UserError && /aaf: no files in the photo folder/.test(e.message),
    );
    // AAF without train.txt / val.txt: genders from the id range, and a warning that says so.
    const faces = path.join(dir, 'aaf2', 'faces');
    await fs.mkdir(faces, { recursive: true });
    const aafFaces = path.join(utkfaceDir, '..', 'aaf', 'faces');
    for (const n of (await fs.readdir(aafFaces)).sort().slice(0, 4))
      await fs.symlink(path.join(aafFaces, n), path.join(faces, n));
    const s = await preprocessAaf({
      photoDir: path.join(dir, 'aaf2'),
      framing: 'whole',
      ...opts(path.join(dir, 'o2')),
    });
    assert.match(
      s.warnings.join('\n'),
      /train\.txt and val\.txt not found: genders come from the id range alone/,
    );
    // A FIFO among the photos is an unreadable image (never a hang); as the labels file, a one-line error.
    // (A FIFO itself is not listed as a photo; one behind a link is, and must not hang the crop.)
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await fs.symlink(fifo, path.join(dir, 'p', '30_0_0_20170117120000000.jpg.chip.jpg'));
    const u = await preprocessUtkface({ photoDir: path.join(dir, 'p'), ...opts(path.join(dir, 'o3')) });
    assert.equal(u.counts.unreadable, 1);
    assert.match(u.examples.unreadable[0]!.reason, /FIFO/);
    const csvFifo = path.join(dir, 'labels.csv');
    execFileSync('mkfifo', [csvFifo]);
    await assert.rejects(
      preprocessCsv({ csv: csvFifo, photoDir: dir, ...opts(path.join(dir, 'o4')) }),
      (e: unknown) =>
        e instanceof UserError && /labels\.csv: a FIFO \(named pipe\), not a regular file/.test(e.message),
    );
    await assert.rejects(
      preprocessImdbWiki({ dbPath: csvFifo, labelsOnly: true, ...opts(path.join(dir, 'o5')) }),
      (e: unknown) => e instanceof UserError && /labels\.csv: a FIFO/.test(e.message),
    );
  } finally {
    await cleanup();
  }
});

test('skipLog names each unreadable file once, the first ones only, then counts the rest', () => {
  const shown: string[] = [];
  const log = skipLog((l) => shown.push(l), 3);
  for (let epoch = 0; epoch < 2; epoch++) for (let i = 0; i < 108; i++) log.skip(`${i}.jpg`, 'no such file');
  log.finish();
  assert.deepEqual(shown, [
    'skipped 0.jpg: no such file',
    'skipped 1.jpg: no such file',
    'skipped 2.jpg: no such file',
    '... and 105 more images skipped (not shown)',
  ]);
});

test('preprocess(name, options) takes every dataset of the registry, and refuses other names with a typed error', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await utkFolder(path.join(dir, 'p'), 4);
    const s = await preprocess('utkface', { photoDir: path.join(dir, 'p'), ...opts(path.join(dir, 'o')) });
    assert.equal(s.dataset, 'utkface');
    assert.equal(s.counts.kept, 4);
    for (const name of ['toString', 'nope'])
      await assert.rejects(
        preprocess(name as 'utkface', { photoDir: dir, outputDir: dir }),
        (e: unknown) => e instanceof InvalidOptionError && /^preprocess: unknown dataset/.test(e.message),
      );
    await assert.rejects(
      preprocess('aaf', { photoDir: dir, outputDir: dir, framing: 'sideways' as 'whole' }),
      /^InvalidOptionError: preprocess: option framing must be one of detector, median, whole, not "sideways"$/,
    );
  } finally {
    await cleanup();
  }
});
