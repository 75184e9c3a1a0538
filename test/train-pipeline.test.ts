import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { TrainStream, epochOrder, evalBatches, shiftImage } from '../src/data/dataset-stream.js';
import type { LabelledImage } from '../src/data/labels-csv.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { buildModel } from '../src/model/index.js';
import { type RunState, latestCheckpoint, loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { learningCurveSvg } from '../src/train/plot.js';
import { learningRateAt } from '../src/train/schedule.js';
import { pickUtkface, tempDir, utkfaceDir } from './helpers/fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
let rows: LabelledImage[];
const spec = defaultPreprocessSpec(16);

before(async () => {
  await tf.setBackend('cpu');
  ({ dir, cleanup } = await tempDir());
  rows = pickUtkface(12)
    .filter((s) => s.age <= 100)
    .slice(0, 10)
    .map((s) => ({ filename: s.file, age: s.age, gender: s.gender }));
});
after(() => cleanup());

describe('input pipeline', () => {
  it('shuffles every epoch differently, reproducibly from the seed', () => {
    const e0 = epochOrder(50, 7, 0);
    const e1 = epochOrder(50, 7, 1);
    assert.deepEqual(
      [...e0].sort((a, b) => a - b),
      [...Array(50).keys()],
    );
    assert.notDeepEqual(e0, e1);
    assert.deepEqual(epochOrder(50, 7, 1), e1);
    assert.notDeepEqual(epochOrder(50, 8, 1), e1);
  });

  it('shift repeats the edge pixels', () => {
    // 2x2 RGB image: pixel values 1..4 (all channels alike)
    const img = Uint8Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
    assert.deepEqual(
      [...shiftImage(img, 2, 1, 0)].filter((_, i) => i % 3 === 0),
      [1, 1, 3, 3],
    );
    assert.deepEqual(
      [...shiftImage(img, 2, 0, -1)].filter((_, i) => i % 3 === 0),
      [3, 4, 3, 4],
    );
  });

  it('streams full standardised batches across epochs, skipping (and counting) a missing image', async () => {
    const skipped: string[] = [];
    const withMissing = [...rows, { filename: 'nope.jpg', age: 20, gender: 1 as const }];
    const stream = new TrainStream(withMissing, {
      imgDir: utkfaceDir,
      spec,
      batchSize: 4,
      augment: true,
      seed: 3,
      onSkip: (f) => skipped.push(path.basename(f)),
    });
    for (let i = 0; i < 6; i++) {
      const b = await stream.next();
      assert.equal(b.size, 4);
      assert.equal(b.x.length, 4 * 16 * 16 * 3);
      const first = b.x.subarray(0, 16 * 16 * 3);
      const mean = first.reduce((s, v) => s + v, 0) / first.length;
      assert.ok(Math.abs(mean) < 1e-3, `standardised mean ${mean}`);
    }
    assert.deepEqual(skipped, ['nope.jpg']);
    assert.equal(stream.skipped, 1);
    assert.ok(
      stream.state.epoch >= 2,
      `24 images from 10 readable rows span 3 epochs (${JSON.stringify(stream.state)})`,
    );
    // Resuming from a saved position yields exactly the same next batch.
    const state = stream.state;
    const a = await stream.next();
    const resumed = new TrainStream(
      withMissing,
      { imgDir: utkfaceDir, spec, batchSize: 4, augment: true, seed: 3 },
      state,
    );
    const b = await resumed.next();
    assert.deepEqual(b.ages, a.ages);
    assert.deepEqual(b.x, a.x);
  });

  it("gives each image's transform a seed of its own position: a resumed stream draws the same views", async () => {
    // A transform that finishes in its own time (parallel decodes end in any order) and shifts the pixels by
    // an amount drawn from its seed.
    const transform = async (px: Uint8Array, _row: unknown, seed: number) => {
      await new Promise((r) => setTimeout(r, seed % 5));
      return px.map((v) => (v + (seed % 40)) & 255);
    };
    const opts = { imgDir: utkfaceDir, spec, batchSize: 4, augment: true, seed: 5, transform };
    const stream = new TrainStream(rows, opts);
    await stream.next();
    const state = stream.state;
    const a = await stream.next();
    const b = await new TrainStream(rows, opts, state).next();
    assert.deepEqual(b.x, a.x);
    const plain = await new TrainStream(rows, { ...opts, transform: undefined }, state).next();
    assert.notDeepEqual(plain.x, a.x, 'the transform changed the pixels');
  });

  it('evaluation batches cover every readable row exactly once, in order', async () => {
    const withMissing = [rows[0]!, { filename: 'gone.jpg', age: 1, gender: 0 as const }, ...rows.slice(1)];
    const seen: string[] = [];
    for await (const b of evalBatches(withMissing, { imgDir: utkfaceDir, spec, batchSize: 4 })) {
      seen.push(...b.rows.map((r) => r.filename));
      assert.equal(b.x.length, b.size * 16 * 16 * 3);
    }
    assert.deepEqual(
      seen,
      rows.map((r) => r.filename),
    );
  });
});

describe('schedule', () => {
  it('warms up linearly, then decays by cosine to 1% of the peak', () => {
    assert.ok(Math.abs(learningRateAt(0, 1000, 1, { warmup: 10 }) - 0.1) < 1e-12);
    assert.equal(learningRateAt(9, 1000, 1, { warmup: 10 }), 1);
    assert.ok(Math.abs(learningRateAt(10, 1000, 1, { warmup: 10 }) - 1) < 1e-12);
    assert.ok(Math.abs(learningRateAt(505, 1000, 1, { warmup: 10 }) - 0.505) < 1e-9);
    assert.ok(Math.abs(learningRateAt(1000, 1000, 1, { warmup: 10 }) - 0.01) < 1e-12);
    assert.equal(learningRateAt(500, 1000, 1, { warmup: 10, schedule: 'constant' }), 1);
  });
});

describe('checkpoints', () => {
  const state = (step: number): RunState => ({
    format: 'agegender-checkpoint',
    version: 1,
    step,
    totalSteps: 100,
    stream: { epoch: 1, cursor: 7 },
    arch: 'resnet-xs',
    imageSize: 16,
    batchSize: 2,
    lr: 1e-3,
    seed: 1,
    ageSigma: 0,
    augment: false,
    imgDir: utkfaceDir,
    trainCsv: 'a.csv',
    valCsv: 'b.csv',
    smoothLoss: 1,
    trainSeconds: 0,
    evalSeconds: 0,
    lastEval: null,
    savedAt: '',
  });

  it('round-trips model weights (batch-norm statistics included) and Adam state bit for bit', async () => {
    const modelDir = path.join(dir, 'ckpt-roundtrip');
    const model = buildModel('resnet-xs', { imageSize: 16, seed: 1 });
    const opt = tf.train.adam(1e-2);
    const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 1);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    for (let i = 0; i < 2; i++) {
      opt.minimize(
        () => tf.mean((model.apply(x, { training: true }) as tf.Tensor[])[0]!) as tf.Scalar,
        false,
        vars,
      );
    }
    await saveCheckpoint(modelDir, model, opt, state(2), spec);
    const ckpt = (await loadCheckpoint(modelDir))!;
    assert.deepEqual(ckpt.state.stream, { epoch: 1, cursor: 7 });
    assert.deepEqual(
      ckpt.weights.map((t) => t.dataSync()),
      model.getWeights().map((t) => t.dataSync()),
    );
    const fresh = buildModel('resnet-xs', { imageSize: 16, seed: 99 });
    fresh.setWeights(ckpt.weights);
    assert.deepEqual(
      (fresh.predict(x) as tf.Tensor[])[0]!.dataSync(),
      (model.predict(x) as tf.Tensor[])[0]!.dataSync(),
    );
    const optW = await opt.getWeights();
    assert.equal(ckpt.optimizer.length, optW.length);
    ckpt.optimizer.forEach((o, i) => assert.deepEqual(o.tensor.dataSync(), optW[i]!.tensor.dataSync()));
    const opt2 = tf.train.adam(1e-2);
    await opt2.setWeights(ckpt.optimizer);
    assert.equal(opt2.iterations, 2);
  });

  it('keeps a whole checkpoint whatever the moment of a crash', async () => {
    const modelDir = path.join(dir, 'ckpt-crash');
    const model = buildModel('resnet-xs', { imageSize: 16, seed: 1 });
    const opt = tf.train.adam(1e-2);
    await saveCheckpoint(modelDir, model, opt, state(5), spec);
    await saveCheckpoint(modelDir, model, opt, state(10), spec);
    // The latest and the one before it (a fallback should the latest be damaged later).
    assert.deepEqual((await fs.readdir(modelDir)).sort(), [
      'checkpoint.json',
      'ckpt-00000005',
      'ckpt-00000010',
    ]);
    // Crash after a new directory was renamed into place but before the pointer moved.
    await fs.cp(path.join(modelDir, 'ckpt-00000010'), path.join(modelDir, 'ckpt-00000015'), {
      recursive: true,
    });
    assert.equal(await latestCheckpoint(modelDir), path.join(modelDir, 'ckpt-00000010'));
    // Crash with a half-written temp directory and a lost pointer: the newest whole directory wins.
    await fs.mkdir(path.join(modelDir, '.ckpt-00000020.123.0.tmp'));
    await fs.rm(path.join(modelDir, 'checkpoint.json'));
    assert.equal(await latestCheckpoint(modelDir), path.join(modelDir, 'ckpt-00000015'));
    await fs.rm(path.join(modelDir, 'ckpt-00000015', 'state.json'));
    assert.equal(await latestCheckpoint(modelDir), path.join(modelDir, 'ckpt-00000010'));
    assert.equal(await loadCheckpoint(path.join(dir, 'nothing-here')), null);
  });
});

describe('learning curve', () => {
  it('draws one path per series with the steps on the x axis', () => {
    const svg = learningCurveSvg([
      { step: 100, trainLoss: 3, valLoss: 3.2, mae: 12, cs5: 0.2, genderAcc: 0.7 },
      { step: 200, trainLoss: 2.5, valLoss: 2.8, mae: 9, cs5: 0.3, genderAcc: 0.8 },
    ]);
    assert.equal(svg.match(/<path /g)?.length, 5);
    assert.match(svg, />200</);
    assert.match(svg, /Validation age MAE/);
  });
});
