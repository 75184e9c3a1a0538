import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { fromFloat16, toFloat16 } from '../src/engine/float16.js';
import { type FeatureSet, cachedFeatures } from '../src/train/finetune/feature-cache.js';
import { featureBatches } from '../src/train/finetune/feature-sets.js';
import { mulberry32, shuffleInPlace } from '../src/util/random.js';
import { StoppedError } from '../src/util/errors.js';
import { pickUtkface, repoRoot, tempDir, utkfaceDir } from './helpers/fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
const rows = pickUtkface(10, 5).map((s) => ({
  filename: s.file,
  age: Math.min(s.age, 100),
  gender: s.gender,
}));
const spec = defaultPreprocessSpec(16);

/** A tiny extractor (16 px image -> 6 features) that counts the images it is run on. */
function extractor(counter: { images: number; onImages?: (n: number) => void }): tf.LayersModel {
  const image = tf.input({ shape: [16, 16, 3] });
  const pooled = tf.layers.globalAveragePooling2d({}).apply(image) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 6, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })
    .apply(pooled) as tf.SymbolicTensor;
  const model = tf.model({ inputs: image, outputs: out });
  const predict = model.predict.bind(model);
  model.predict = (x, args) => {
    counter.images += (x as tf.Tensor).shape[0]!;
    counter.onImages?.(counter.images);
    return predict(x, args);
  };
  return model;
}

/** Every row's features, decoded. */
const features = async (set: FeatureSet) =>
  Float32Array.from(
    (await Promise.all(set.blocks.map((b) => b.load()))).flatMap((bits) => [...fromFloat16(bits)]),
  );

const options = (cacheDir: string, signal?: AbortSignal) => ({
  cacheDir,
  backboneId: 'probe',
  imgDir: utkfaceDir,
  spec,
  json: true,
  label: 'probe-train',
  augmentedViews: 1,
  blockRows: 4,
  signal,
});

before(async () => {
  await tf.setBackend('cpu');
  ({ dir, cleanup } = await tempDir());
});
after(() => cleanup());

describe('the feature cache', () => {
  it('stores float16 features in blocks; a stopped extraction resumes at the first unfinished block', async () => {
    const cacheDir = path.join(dir, 'resumed');
    // 10 rows in blocks of 4: each block runs 3 views (plain + mirrored, then one augmented). Stop while
    // the second block is being extracted.
    const stop = new AbortController();
    const first = { images: 0, onImages: (n: number) => n > 4 * 2 && stop.abort() };
    await assert.rejects(
      cachedFeatures(extractor(first), rows, options(cacheDir, stop.signal)),
      StoppedError,
    );
    const [entry] = await fs.readdir(cacheDir);
    const files = (await fs.readdir(path.join(cacheDir, entry!))).filter((f) => !f.startsWith('.'));
    assert.deepEqual(
      files.sort(),
      ['block-00000.f16', 'block-00000.json'],
      'only the finished block is kept',
    );

    const second = { images: 0 };
    const resumed = await cachedFeatures(extractor(second), rows, options(cacheDir));
    assert.equal(second.images, 6 * 3, 'blocks 2 and 3 (6 rows) are extracted, block 1 is read');
    const third = { images: 0 };
    const fresh = await cachedFeatures(extractor(third), rows, options(path.join(dir, 'fresh')));
    assert.equal(third.images, 10 * 3);
    assert.deepEqual(resumed.rows, rows);
    assert.deepEqual(
      await features(resumed),
      await features(fresh),
      'the resumed cache holds what one run computes',
    );
    // float16 on disk: 2 bytes a value, 6 values a view, 3 views a row.
    const index = JSON.parse(await fs.readFile(path.join(cacheDir, entry!, 'block-00000.json'), 'utf8'));
    assert.equal((await fs.stat(path.join(cacheDir, entry!, 'block-00000.f16'))).size, 4 * 3 * 6 * 2);
    assert.equal(index.rows.length, 4);
    assert.deepEqual(
      [...fromFloat16(Uint16Array.of(0x3c00, 0xc000, 0x0001, 0x7bff, 0x0000))],
      [1, -2, 2 ** -24, 65504, 0],
    );
    // Every value read back is a float16 value (stored as such), not the extractor's float32.
    const values = await features(resumed);
    assert.deepEqual(fromFloat16(toFloat16(values)), values);

    // A read of a complete entry runs the extractor on nothing.
    const fourth = { images: 0 };
    await cachedFeatures(extractor(fourth), rows, options(cacheDir));
    assert.equal(fourth.images, 0);
  });

  /** A synthetic set: `rows` rows of 2 views of 3 features (value = row * 10 + view), in blocks of `block`. */
  function synthetic(rowsN: number, block: number, loads: { n: number }): FeatureSet {
    const per = 3;
    const views = 2;
    const blocks = [];
    for (let start = 0; start < rowsN; start += block) {
      const count = Math.min(block, rowsN - start);
      const values = Float32Array.from({ length: count * views * per }, (_, i) => {
        const r = start + Math.floor(i / (views * per));
        return r * 10 + (Math.floor(i / per) % views);
      });
      blocks.push({ start, count, load: async () => (loads.n++, toFloat16(values)) });
    }
    const rowList = Array.from({ length: rowsN }, (_, r) => ({
      filename: `${r}`,
      age: r,
      gender: (r % 2) as 0 | 1,
    }));
    return { rows: rowList, views, per, shape: [per], skipped: 0, blocks };
  }

  it('training batches: a set that fits is one shuffle of all rows, as an in-memory one would be', async () => {
    const loads = { n: 0 };
    const sets = [synthetic(10, 4, loads), synthetic(7, 4, loads)];
    const batches = featureBatches(sets, 4, mulberry32(3));
    assert.equal(batches.stepsPerEpoch, 5);
    // The in-memory reference: one shuffled order of the 17 rows per epoch, a random view per row.
    const rand = mulberry32(3);
    for (let epoch = 0; epoch < 2; epoch++) {
      const order = shuffleInPlace(
        Uint32Array.from({ length: 17 }, (_, i) => i),
        rand,
      );
      for (let b = 0; b < 5; b++) {
        const batch = await batches.next();
        const idx = order.subarray(b * 4, b * 4 + 4);
        const want = [...idx].map((g) => (g < 10 ? g : g - 10) * 10 + Math.floor(rand() * 2));
        assert.deepEqual(
          [...batch.x].filter((_, i) => i % 3 === 0),
          want,
        );
        assert.deepEqual(
          Array.from(batch.ages),
          [...idx].map((g) => (g < 10 ? g : g - 10)),
        );
      }
    }
    assert.equal(loads.n, 5, 'each block is read once and kept');
  });

  it('training batches: a larger set streams in groups of blocks, every row once an epoch', async () => {
    const loads = { n: 0 };
    // 40 rows in blocks of 4 (2 views x 3 float16 = 12 bytes a row): groups of at most 2 blocks (96 bytes).
    const sets = [synthetic(40, 4, loads)];
    const batches = featureBatches(sets, 6, mulberry32(5), 96);
    for (let epoch = 0; epoch < 2; epoch++) {
      const seen: number[] = [];
      for (let b = 0; b < batches.stepsPerEpoch; b++) {
        seen.push(...Array.from((await batches.next()).ages));
        // Never more than a group in memory, even for a batch that straddles two groups.
        assert.ok(batches.heldBytes() <= 96, `${batches.heldBytes()} bytes held after batch ${b}`);
      }
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, i) => i),
      );
    }
    assert.ok(
      loads.n >= 20 && loads.n <= 24,
      `each block read about once an epoch (${loads.n} reads of 10 blocks x 2)`,
    );
  });

  it('a kill -9 during extraction loses at most the block being written: a rerun reads the finished ones', async () => {
    const cacheDir = path.join(dir, 'killed');
    const many = pickUtkface(40, 20).map((s) => ({
      filename: s.file,
      age: Math.min(s.age, 100),
      gender: s.gender,
    }));
    // A child process extracts the 40 rows in blocks of 4, each batch slowed to 50 ms; it is killed once
    // two blocks are finished.
    const script = `
      import * as tf from '@tensorflow/tfjs';
      import { cachedFeatures } from './src/train/finetune/feature-cache.ts';
      import { defaultPreprocessSpec } from './src/data/preprocess-spec.ts';
      await tf.setBackend('cpu');
      const image = tf.input({ shape: [16, 16, 3] });
      const pooled = tf.layers.globalAveragePooling2d({}).apply(image);
      const out = tf.layers.dense({ units: 6, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(pooled);
      const model = tf.model({ inputs: image, outputs: out });
      const predict = model.predict.bind(model);
      model.predict = (x, a) => (Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50), predict(x, a));
      await cachedFeatures(model, ${JSON.stringify(many)}, {
        cacheDir: ${JSON.stringify(cacheDir)}, backboneId: 'probe', imgDir: ${JSON.stringify(utkfaceDir)},
        spec: defaultPreprocessSpec(16), json: true, label: 'probe-train', augmentedViews: 1, blockRows: 4,
      });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.on('exit', r));
    const finished = async () => {
      const [entry] = await fs.readdir(cacheDir).catch(() => [] as string[]);
      if (!entry) return 0;
      return (await fs.readdir(path.join(cacheDir, entry))).filter((f) => /^block-\d+\.json$/.test(f)).length;
    };
    let gone = false;
    void exited.then(() => (gone = true));
    while ((await finished()) < 2) {
      assert.ok(!gone, 'the extracting child exited before it was killed');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await exited;
    const kept = await finished();
    assert.ok(kept >= 2 && kept < 10, `${kept} finished blocks when killed`);

    const counter = { images: 0 };
    const resumed = await cachedFeatures(extractor(counter), many, options(cacheDir));
    assert.equal(counter.images, (40 - 4 * kept) * 3, 'only the unfinished blocks are extracted again');
    const fresh = await cachedFeatures(extractor({ images: 0 }), many, options(path.join(dir, 'unkilled')));
    assert.deepEqual(await features(resumed), await features(fresh));
  });
});
