import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { evaluate } from '../src/api/evaluate.js';
import { exportLatest } from '../src/train/export.js';
import { type TrainOptions, train } from '../src/api/train.js';
import { UserError } from '../src/util/errors.js';
import { FolderLockedError, lockFolder } from '../src/util/folder-lock.js';
import { pickUtkface, tempDir, utkfaceDir, writeLabelsCsv } from './helpers/fixtures.js';
import { writeTestBundle } from './helpers/predict-bundle.js';
import { runCli } from './helpers/spawn-cli.js';

let dir: string;
let cleanup: () => Promise<void>;
let trainCsv: string;
let valCsv: string;
let missingCsv: string;

before(async () => {
  ({ dir, cleanup } = await tempDir());
  const samples = pickUtkface(12).filter((s) => s.age <= 100);
  trainCsv = path.join(dir, 'train.csv');
  valCsv = path.join(dir, 'val.csv');
  missingCsv = path.join(dir, 'missing.csv');
  await writeLabelsCsv(trainCsv, samples.slice(0, 8));
  await writeLabelsCsv(valCsv, samples.slice(8, 12));
  await writeLabelsCsv(missingCsv, [
    { file: 'gone_1.jpg', age: 30, gender: 1 },
    { file: 'gone_2.jpg', age: 40, gender: 0 },
  ]);
});
after(async () => cleanup?.());

const base = (modelDir: string): TrainOptions => ({
  modelDir,
  imgDir: utkfaceDir,
  trainCsv,
  valCsv,
  imgSize: 16,
  arch: 'resnet-xs',
  batchSize: 4,
  lr: 1e-3,
  numSteps: 4,
  seed: 1,
  augment: false,
  ageSigma: 2,
  evalEvery: 2,
  checkpointEvery: 2,
  backend: 'wasm',
});

/** Only what a resumed run is given on the command line (no --eval-every / --checkpoint-every). */
const resumeOpts = (modelDir: string, numSteps?: number, log?: (l: string) => void): TrainOptions => ({
  ...base(modelDir),
  resume: true,
  numSteps,
  evalEvery: undefined,
  checkpointEvery: undefined,
  log,
});

const servingCount = async (modelDir: string) =>
  (await fs.readdir(path.join(modelDir, 'serving')).catch(() => [])).length;
const ckptDirs = async (modelDir: string) =>
  (await fs.readdir(modelDir)).filter((n) => /^ckpt-\d+$/.test(n)).sort();

test('--resume keeps --eval-every / --checkpoint-every, refuses --num-steps below the checkpoint, keeps two checkpoints and falls back from a damaged one', async () => {
  const modelDir = path.join(dir, 'run');
  await train(base(modelDir));
  assert.deepEqual(await ckptDirs(modelDir), ['ckpt-00000002', 'ckpt-00000004'], 'the latest two are kept');
  const ckpt = (await loadCheckpoint(modelDir))!;
  assert.equal(ckpt.state.evalEvery, 2);
  assert.equal(ckpt.state.checkpointEvery, 2);

  // Below the checkpoint's step: a clear error, nothing exported (it used to print 0/-2 steps and export).
  const exported = await servingCount(modelDir);
  await assert.rejects(
    train(resumeOpts(modelDir, 3)),
    (e: unknown) =>
      e instanceof UserError && /--num-steps 3: the run in .* is already at step 4/.test(e.message),
  );
  assert.equal(await servingCount(modelDir), exported);
  const cli = await runCli(['train', '--model-dir', modelDir, '--resume', '--num-steps', '2', '--json']);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr.trim(), /^agegender: --num-steps 2: the run in .* is already at step 4/);
  assert.doesNotMatch(cli.stderr, /internal error/);

  // Resumed without the flags: evaluations and checkpoints keep their every-2-steps rhythm.
  await train(resumeOpts(modelDir, 8));
  const steps = (await fs.readFile(path.join(modelDir, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [2, 4, 6, 8]);
  assert.deepEqual(await ckptDirs(modelDir), ['ckpt-00000006', 'ckpt-00000008']);

  // A truncated latest checkpoint: --resume goes back to the one before it and says so.
  const weights = path.join(modelDir, 'ckpt-00000008', 'weights.bin');
  await fs.truncate(weights, (await fs.stat(weights)).size - 100);
  const ex = await exportLatest(modelDir);
  assert.equal(ex.step, 6, 'export takes the checkpoint before the damaged one');
  assert.match(ex.skipped ?? '', /ckpt-00000008: unreadable checkpoint/);
  const lines: string[] = [];
  const r = await train(resumeOpts(modelDir, 10, (l) => lines.push(l)));
  assert.equal(r.steps, 10);
  assert.match(
    lines.join('\n'),
    /ckpt-00000008: unreadable checkpoint: weights\.bin has \d+ bytes, expected \d+; resumed from the checkpoint before it/,
  );
  assert.match(lines.join('\n'), /resumed at step 6/);
});

test('train fails (rc 1, no bundle) when no validation image can be read, instead of MAE NaN', async () => {
  const modelDir = path.join(dir, 'no-val');
  await assert.rejects(
    train({ ...base(modelDir), valCsv: missingCsv }),
    (e: unknown) =>
      e instanceof UserError && /missing\.csv: none of its 2 images exist under /.test(e.message),
  );
  assert.equal(await servingCount(modelDir), 0);
});

test('evaluate fails with a clear message when no image of the CSV can be read', async () => {
  const bundle = await writeTestBundle(path.join(dir, 'bundle'), { imageSize: 16 });
  await assert.rejects(
    evaluate({ modelDir: bundle, csv: missingCsv, imgDir: utkfaceDir, backend: 'wasm' }),
    (e: unknown) =>
      e instanceof UserError && /missing\.csv: none of its 2 images could be read/.test(e.message),
  );
});

test('a --model-dir that is a file is a one-line error, not an internal one', async () => {
  await assert.rejects(
    train(base(trainCsv)),
    (e: unknown) =>
      e instanceof UserError && /train\.csv: exists and is a file, not a folder/.test(e.message),
  );
});

test('a second run into a run folder in use fails at once, naming the run that holds it', async () => {
  const modelDir = path.join(dir, 'locked');
  await fs.mkdir(modelDir);
  // This process holds the folder, as a first `agegender train` would.
  const release = await lockFolder(modelDir, 'agegender train');
  try {
    await assert.rejects(
      train(base(modelDir)),
      (e: unknown) =>
        e instanceof FolderLockedError &&
        new RegExp(`in use by agegender train \\(pid ${process.pid} `).test(e.message),
    );
    assert.deepEqual(await fs.readdir(modelDir), ['.agegender.lock'], 'the second run wrote nothing');
  } finally {
    await release();
  }
});

/** Overwrites a weights file with NaN: float32 NaN, or float16 NaN (0xffff) for a float16 bundle. */
async function poison(file: string): Promise<void> {
  // All bits set: NaN as float32 and as float16 alike.
  await fs.writeFile(file, new Uint8Array((await fs.stat(file)).size).fill(0xff));
}

/** A `preprocess`-shaped folder over the same crops (crop/ links to the UTKFace folder). */
async function dataFolder(): Promise<string> {
  const data = path.join(dir, 'data');
  if (await fs.stat(data).catch(() => null)) return data;
  await fs.mkdir(data);
  await fs.symlink(utkfaceDir, path.join(data, 'crop'));
  await fs.copyFile(trainCsv, path.join(data, 'train.csv'));
  await fs.copyFile(valCsv, path.join(data, 'val.csv'));
  return data;
}

test("train --resume refuses a setting given another value than the run's, naming the flag and the run's value", async () => {
  const modelDir = path.join(dir, 'conflict');
  await train({ ...base(modelDir), numSteps: 2 });
  for (const [flag, value, was] of [
    ['--img-size', '64', '16'],
    ['--arch', 'resnet-s', 'resnet-xs'],
    ['--lr', '0.5', '0.001'],
    ['--batch-size', '2', '4'],
  ]) {
    const r = await runCli(['train', '--model-dir', modelDir, '--resume', flag!, value!, '--num-steps', '4']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^agegender: ${flag} ${value}: the run in .* was started with ${was}`));
  }
  // The run's own value is no conflict.
  const same = await runCli([
    'train',
    '--model-dir',
    modelDir,
    '--resume',
    '--img-size',
    '16',
    '--num-steps',
    '3',
  ]);
  assert.equal(same.code, 0, same.stderr);
});

test('finetune --init-from refuses a bundle of another kind (a network trained from scratch)', async () => {
  const modelDir = path.join(dir, 'conflict');
  const bundle = path.join(modelDir, 'serving', (await fs.readdir(path.join(modelDir, 'serving')))[0]!);
  const r = await runCli([
    ...['finetune', '--data', await dataFolder(), '--init-from', bundle, '--full-epochs', '1'],
    ...['--model-dir', path.join(dir, 'other-kind')],
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /--init-from .*: a resnet-xs bundle \(16 px\), not one made by finetune/);
});

test('unreadable images are named once each, the first ten, then counted: no flood of "skipped" lines', async () => {
  const bundle = await writeTestBundle(path.join(dir, 'skips-bundle'), { imageSize: 16 });
  const csv = path.join(dir, 'mostly-missing.csv');
  const gone = Array.from({ length: 25 }, (_, i) => ({ file: `gone_${i}.jpg`, age: 30, gender: 1 as const }));
  await writeLabelsCsv(csv, [...pickUtkface(2), ...gone]);
  const r = await runCli(['evaluate', '--model-dir', bundle, '--csv', csv, '--img-dir', utkfaceDir]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('skipped ')).length, 10, r.stderr);
  assert.match(r.stderr, /^\.\.\. and 15 more images skipped \(not shown\)$/m);
});

test('a NaN model is an error, not a result: evaluate, export, and every training phase refuse it', async () => {
  // evaluate on a bundle whose weights are NaN.
  const bundle = await writeTestBundle(path.join(dir, 'nan-bundle'), { imageSize: 16 });
  await poison(path.join(bundle, 'weights.bin'));
  const ev = await runCli([
    'evaluate',
    '--model-dir',
    bundle,
    '--csv',
    valCsv,
    '--img-dir',
    utkfaceDir,
    '--json',
  ]);
  assert.equal(ev.code, 1, ev.stderr);
  assert.equal(ev.stderr.trim().split('\n').length, 1, ev.stderr);
  assert.match(ev.stderr, /not finite/);

  // export of a checkpoint whose weights are NaN: nothing exported.
  const run = path.join(dir, 'nan-run');
  await train({ ...base(run), numSteps: 2 });
  await poison(path.join(run, 'ckpt-00000002', 'weights.bin'));
  const exported = await servingCount(run);
  const ex = await runCli(['export', '--model-dir', run]);
  assert.equal(ex.code, 1, ex.stderr);
  assert.match(ex.stderr, /ckpt-00000002: .*not finite/);
  assert.equal(await servingCount(run), exported);

  // The phases refuse a NaN loss (src/train/fit.ts), each naming itself: from scratch (resumed from it) ...
  await assert.rejects(
    train(resumeOpts(run, 4)),
    (e: unknown) => e instanceof UserError && /^train phase: the loss is NaN at step 3/.test(e.message),
  );
  // ... the heads on cached features ...
  const data = await dataFolder();
  const cache = path.join(dir, 'nan-cache');
  const finetuneArgs = (modelDir: string) => [
    ...['finetune', '--data', data, '--epochs', '1', '--full-epochs', '0', '--augment-views', '0'],
    ...['--ensemble', '1', '--feature-cache', cache, '--model-dir', path.join(dir, modelDir)],
  ];
  assert.equal((await runCli(finetuneArgs('heads-ok'))).code, 0);
  // (Heads whose output layer is NaN: NaN features would not do, as the engine's kernels turn some into
  // finite numbers.)
  const tf = await import('@tensorflow/tfjs');
  const { FINETUNE_OPTIONS } = await import('../src/api/finetune.js');
  const { resolveOptions } = await import('../src/util/option-schema.js');
  const { readLabelsCsv } = await import('../src/data/labels-csv.js');
  const { defaultPreprocessSpec } = await import('../src/data/preprocess-spec.js');
  const { buildAgeGenderNet } = await import('../src/model/agegender-net.js');
  const { DLIB_RESNET } = await import('../src/model/backbones/dlib-resnet.js');
  const { trainHeadsPhase } = await import('../src/train/finetune/heads-phase.js');
  const settings = resolveOptions('finetune', FINETUNE_OPTIONS, {
    data: [data],
    modelDir: path.join(dir, 'heads-nan'),
    epochs: 1,
    augmentViews: 0,
    ensemble: 1,
  });
  const net = await buildAgeGenderNet(DLIB_RESNET, settings);
  const age = net.headsTrain.getLayer('age');
  age.setWeights(age.getWeights().map((w) => tf.fill(w.shape, NaN)));
  const set = {
    name: 'data',
    imgDir: path.join(data, 'crop'),
    trainCsv: path.join(data, 'train.csv'),
    valCsv: path.join(data, 'val.csv'),
  };
  const rows = { train: await readLabelsCsv(set.trainCsv), val: await readLabelsCsv(set.valCsv) };
  const spec = { ...defaultPreprocessSpec(150), normalization: DLIB_RESNET.normalization, faceCrop: null };
  await assert.rejects(
    trainHeadsPhase(
      net,
      spec,
      [set],
      [rows],
      [false],
      { ...settings, json: true, cacheDir: cache },
      () => {},
      async () => {},
      () => {},
    ),
    (e: unknown) => e instanceof UserError && /^heads phase: the loss is NaN at step 1/.test(e.message),
  );
  // ... and every layer on images (from a dlib bundle whose weights are NaN).
  const dlib = path.join(dir, 'nan-dlib');
  await fs.mkdir(dlib);
  for (const f of ['model.json', 'weights.bin', 'preprocess.json', 'metrics.json'])
    await fs.copyFile(path.join('models', 'default', f), path.join(dlib, f));
  await poison(path.join(dlib, 'weights.bin'));
  const full = await runCli([
    ...['finetune', '--data', data, '--init-from', dlib, '--full-epochs', '1', '--full-batch-size', '4'],
    ...['--model-dir', path.join(dir, 'full-nan')],
  ]);
  assert.equal(full.code, 1, full.stderr);
  assert.match(full.stderr, /full phase: the loss is NaN at step 1/);
});

test('a --model-dir or --feature-cache that is a file is a one-line error for finetune too', async () => {
  const data = await dataFolder();
  for (const args of [
    ['--model-dir', trainCsv],
    ['--model-dir', path.join(dir, 'fc-file'), '--feature-cache', trainCsv],
  ]) {
    const r = await runCli(['finetune', '--data', data, '--epochs', '1', ...args]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /train\.csv: exists and is a file, not a folder/);
    assert.doesNotMatch(r.stderr, /internal error/);
  }
});

test('the library: an aborted signal stops train before any work; a bad signal or progress is an option error', async () => {
  const { StoppedError, InvalidOptionError } = await import('../src/util/errors.js');
  const stop = new AbortController();
  stop.abort();
  const modelDir = path.join(dir, 'aborted');
  await assert.rejects(train({ ...base(modelDir), signal: stop.signal }), StoppedError);
  assert.equal(await fs.stat(modelDir).catch(() => null), null, 'nothing was written');
  for (const bad of [{ signal: 'stop' }, { progress: 42 }])
    await assert.rejects(
      train({ ...base(modelDir), ...(bad as object) }),
      (e: unknown) =>
        e instanceof InvalidOptionError && /^train: option (signal|progress) must be/.test(e.message),
    );
});
