import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { evaluate } from '../src/api/evaluate.js';
import { exportLatest } from '../src/train/export.js';
import { type TrainOptions, train } from '../src/api/train.js';
import { UserError } from '../src/util/errors.js';
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
      e instanceof UserError && /--model-dir .*train\.csv: is a file, not a run directory/.test(e.message),
  );
});
