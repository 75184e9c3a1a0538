import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { TrainStream } from '../src/data/dataset-stream.js';
import { readLabelsCsv } from '../src/data/labels-csv.js';
import { loadLayersModelFromDir } from '../src/engine/model-io.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { evaluate } from '../src/api/evaluate.js';
import { formatEvaluation } from '../src/cli/evaluate.js';
import { exportLatest } from '../src/train/export.js';
import { type TrainOptions, train } from '../src/api/train.js';
import { pickUtkface, repoRoot, tempDir, utkfaceDir, writeLabelsCsv } from './helpers/fixtures.js';

let dir: string;
const children: ReturnType<typeof spawn>[] = [];
let cleanup: () => Promise<void>;
let trainCsv: string;
let valCsv: string;

const base = (modelDir: string): TrainOptions => ({
  modelDir,
  imgDir: utkfaceDir,
  trainCsv,
  valCsv,
  imgSize: 32,
  arch: 'resnet-xs',
  batchSize: 8,
  lr: 3e-3,
  numSteps: 30,
  seed: 1,
  augment: true,
  ageSigma: 2,
  evalEvery: 10,
  checkpointEvery: 10,
  backend: 'wasm',
});

const readLines = async (file: string) =>
  (await fs.readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; trainLoss: number; mae: number });

before(async () => {
  ({ dir, cleanup } = await tempDir());
  const samples = pickUtkface(70).filter((s) => s.age <= 100);
  trainCsv = path.join(dir, 'train.csv');
  valCsv = path.join(dir, 'val.csv');
  // One row whose image does not exist: it must be skipped and counted, never fatal.
  await writeLabelsCsv(trainCsv, [...samples.slice(0, 40), { file: 'missing_face.jpg', age: 30, gender: 1 }]);
  await writeLabelsCsv(valCsv, samples.slice(40, 56));
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cleanup();
});

describe('train end to end (40 UTKFace crops, 32x32, resnet-xs)', () => {
  it('loss falls, curves are drawn, export + reload predicts identically, evaluate agrees', async () => {
    const modelDir = path.join(dir, 'run-a');
    const result = await train(base(modelDir));
    assert.equal(result.steps, 30);
    assert.equal(result.skipped, 1);
    const lines = await readLines(path.join(modelDir, 'metrics.jsonl'));
    assert.deepEqual(
      lines.map((l) => l.step),
      [10, 20, 30],
    );
    assert.ok(lines[2]!.trainLoss < lines[0]!.trainLoss, `train loss ${lines.map((l) => l.trainLoss)}`);
    const png = await sharp(path.join(modelDir, 'learning-curve.png')).metadata();
    assert.equal(png.format, 'png');
    assert.match(
      await fs.readFile(path.join(modelDir, 'learning-curve.svg'), 'utf8'),
      /<svg[^>]*>[\s\S]*<path/,
    );

    for (const f of ['model.json', 'weights.bin', 'preprocess.json', 'metrics.json']) {
      await fs.access(path.join(result.servingDir, f));
    }
    const spec = JSON.parse(await fs.readFile(path.join(result.servingDir, 'preprocess.json'), 'utf8'));
    assert.deepEqual(spec, defaultPreprocessSpec(32));

    // Re-export from the final checkpoint: same weights -> bit-identical predictions.
    const again = await exportLatest(modelDir);
    assert.notEqual(again.servingDir, result.servingDir);
    const [m1, m2] = await Promise.all([
      loadLayersModelFromDir(result.servingDir),
      loadLayersModelFromDir(again.servingDir),
    ]);
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 5);
    const [a1, g1] = m1.predict(x) as tf.Tensor[];
    const [a2, g2] = m2.predict(x) as tf.Tensor[];
    assert.deepEqual(a1!.dataSync(), a2!.dataSync());
    assert.deepEqual(g1!.dataSync(), g2!.dataSync());

    // The reloaded bundle scores the validation set exactly as the trainer's last eval did.
    const ev = await evaluate({
      modelDir: result.servingDir,
      csv: valCsv,
      imgDir: utkfaceDir,
    });
    assert.equal(ev.n, 16);
    assert.ok(Math.abs(ev.mae - result.validation.mae) < 1e-4, `${ev.mae} vs ${result.validation.mae}`);
    assert.ok(Math.abs(ev.genderAcc - result.validation.genderAcc) < 1e-9);
    const total = ev.bands!.find((b) => b.band === 'all' && b.gender === 'all')!;
    assert.equal(total.n, 16);
    const bandRows = ev.bands!.filter((b) => b.band !== 'all' && b.gender === 'all');
    assert.equal(
      bandRows.reduce((n, b) => n + b.n, 0),
      16,
    );
    assert.match(formatEvaluation(ev), /age MAE \d+\.\d\d years \| CS@5 [\d.]+% \| gender accuracy [\d.]+%/);
    // A run directory resolves to its newest serving bundle.
    const viaRun = await evaluate({ modelDir, csv: valCsv, imgDir: utkfaceDir });
    assert.equal(viaRun.model, again.servingDir);
  });

  it('refuses to overwrite a run without --resume', async () => {
    await assert.rejects(train(base(path.join(dir, 'run-a'))), /already holds a run; add --resume/);
  });

  it('a stop request saves a checkpoint; --resume continues with the same optimizer state and data order', async () => {
    const modelDir = path.join(dir, 'run-b');
    const stop = new AbortController();
    await assert.rejects(
      train({
        ...base(modelDir),
        checkpointEvery: 0,
        signal: stop.signal,
        onStep: (step) => {
          if (step === 13) stop.abort();
        },
      }),
      /stopped by abort at step 13; checkpoint saved/,
    );
    const ckpt = (await loadCheckpoint(modelDir))!;
    assert.equal(ckpt.state.step, 13);
    assert.equal(ckpt.optimizer[0]!.name, 'iter');
    assert.equal(ckpt.optimizer[0]!.tensor.dataSync()[0], 13);
    // Data order: the saved stream position is where a fresh stream stands after 13 batches.
    const rows = await readLabelsCsv(trainCsv);
    const stream = new TrainStream(rows, {
      imgDir: utkfaceDir,
      spec: defaultPreprocessSpec(32),
      batchSize: 8,
      augment: true,
      seed: 1,
    });
    for (let i = 0; i < 13; i++) await stream.next();
    assert.deepEqual(ckpt.state.stream, stream.state);

    const resumed = await train({ modelDir, resume: true, ...pick(base(modelDir)) });
    assert.equal(resumed.steps, 30);
    const lines = await readLines(path.join(modelDir, 'metrics.jsonl'));
    assert.deepEqual(
      lines.map((l) => l.step),
      [10, 20, 30],
    );
    const done = (await loadCheckpoint(modelDir))!;
    assert.equal(done.optimizer[0]!.tensor.dataSync()[0], 30);
  });

  it('kill -9 during training never corrupts the run: --resume finishes it', async () => {
    const modelDir = path.join(dir, 'run-c');
    const args = [
      'train',
      '--model-dir',
      modelDir,
      '--img-dir',
      utkfaceDir,
      '--train-csv',
      trainCsv,
      '--val-csv',
      valCsv,
      '--img-size',
      '32',
      '--arch',
      'resnet-xs',
      '--batch-size',
      '8',
      '--lr',
      '0.003',
      '--num-steps',
      '400',
      '--checkpoint-every',
      '3',
      '--eval-every',
      '7',
      '--backend',
      'wasm',
      '--json',
    ];
    const argv = (extra: string[]) => JSON.stringify(['node', 'agegender', ...args, ...extra]);
    const run = (extra: string[] = []) => {
      const code = `import('./src/cli/main.ts').then((m) => m.main(${argv(extra)}))`;
      const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], {
        cwd: repoRoot,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const exited = new Promise<number | string>((r) => child.on('exit', (c, sig) => r(c ?? sig!)));
      children.push(child);
      return { child, exited, stderr: () => stderr };
    };
    // Wait until the run has checkpointed at least `step`, failing fast if the child dies.
    const pointer = path.join(modelDir, 'checkpoint.json');
    const waitFor = async (proc: ReturnType<typeof run>, step: number) => {
      let gone = false;
      void proc.exited.then(() => (gone = true));
      for (;;) {
        const p = await fs.readFile(pointer, 'utf8').catch(() => '');
        if (p && JSON.parse(p).step >= step) return;
        assert.ok(!gone, `training child exited early: ${proc.stderr().slice(-500)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    // Ctrl-C (SIGINT): a checkpoint at the current step, exit code 130.
    const first = run();
    await waitFor(first, 3);
    first.child.kill('SIGINT');
    assert.equal(await first.exited, 130);
    assert.match(first.stderr(), /stopped by SIGINT at step \d+; checkpoint saved/);
    // kill -9 at an arbitrary moment of a resumed run.
    const second = run(['--resume']);
    await waitFor(second, 9);
    await new Promise((r) => setTimeout(r, 137));
    second.child.kill('SIGKILL');
    assert.equal(await second.exited, 'SIGKILL');
    const ckpt = (await loadCheckpoint(modelDir))!;
    assert.ok(ckpt.state.step >= 9, `checkpoint at step ${ckpt.state.step}`);
    const resumed = await train({
      modelDir,
      resume: true,
      ...pick(base(modelDir)),
      numSteps: ckpt.state.step + 6,
    });
    assert.equal(resumed.steps, ckpt.state.step + 6);
    const steps = (await readLines(path.join(modelDir, 'metrics.jsonl'))).map((l) => l.step);
    assert.deepEqual(
      steps,
      [...new Set(steps)].sort((a, b) => a - b),
      'metrics.jsonl has no duplicate or torn lines',
    );
  });
});

/** The runtime settings a resumed run takes from the command line (the rest comes from the checkpoint). */
function pick(o: TrainOptions) {
  const { imgSize, arch, batchSize, lr, seed, augment, ageSigma, evalEvery, checkpointEvery, backend } = o;
  return {
    imgSize,
    arch,
    batchSize,
    lr,
    seed,
    augment,
    ageSigma,
    evalEvery,
    checkpointEvery,
    backend,
  };
}
