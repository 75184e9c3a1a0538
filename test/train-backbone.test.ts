import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Predictor } from '../src/infer/predictor.js';
import { exists } from '../src/util/exists.js';
import { runCli as cli } from './helpers/spawn-cli.js';
import { pickUtkface, tempDir, utkfaceDir, writeLabelsCsv } from './helpers/fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
let data: string;
const samples = pickUtkface(64, 3).filter((s) => s.age <= 100);

before(async () => {
  ({ dir, cleanup } = await tempDir());
  // A `preprocess`-shaped folder: crop/ (links to real UTKFace crops), train.csv, val.csv; one missing image.
  data = path.join(dir, 'mine');
  await fs.mkdir(path.join(data, 'crop'), { recursive: true });
  for (const s of samples) await fs.symlink(path.join(utkfaceDir, s.file), path.join(data, 'crop', s.file));
  await writeLabelsCsv(path.join(data, 'train.csv'), [
    ...samples.slice(0, 48),
    { file: 'gone.jpg', age: 30, gender: 1 },
  ]);
  await writeLabelsCsv(path.join(data, 'val.csv'), samples.slice(48));
});
after(() => cleanup());

/** The per-epoch lines a run appended to <modelDir>/metrics.jsonl. */
async function metricsLines(modelDir: string) {
  const text = await fs.readFile(path.join(modelDir, 'metrics.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('train --backbone dlib-resnet', () => {
  it('trains heads on cached backbone features in one command and exports a bundle predict can use', async () => {
    const modelDir = path.join(dir, 'run');
    const cache = path.join(dir, 'cache');
    const args = [
      'train',
      '--backbone',
      'dlib-resnet',
      '--data',
      data,
      '--epochs',
      '12',
      '--batch-size',
      '16',
    ];
    const r = await cli([...args, '--model-dir', modelDir, '--feature-cache', cache, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(result.trainImages, 48, 'the missing image is skipped, the rest used');
    const lines = await metricsLines(modelDir);
    // 12 epochs of the heads on frozen features, each scored on the validation rows.
    assert.deepEqual(
      lines.map((l) => l.phase),
      Array(12).fill('heads'),
    );
    assert.ok(Number.isFinite(lines[11].trainLoss) && lines[11].sets[0].n === samples.length - 48);
    assert.ok(
      lines[11].trainLoss < lines[0].trainLoss,
      `loss falls: ${lines[0].trainLoss} -> ${lines[11].trainLoss}`,
    );

    const spec = JSON.parse(await fs.readFile(path.join(result.servingDir, 'preprocess.json'), 'utf8'));
    assert.equal(spec.imageSize, 150);
    assert.equal(spec.normalization.kind, 'mean-scale');
    assert.equal(spec.faceCrop.detector, 'ssd-mobilenetv1');

    const predictor = await Predictor.load({ modelDir: result.servingDir, backend: 'wasm' });
    const faces = await predictor.predict(path.join(utkfaceDir, samples[50]!.file), { detect: false });
    assert.equal(faces.length, 1);
    assert.ok(faces[0]!.age >= 0 && faces[0]!.age <= 100 && Number.isFinite(faces[0]!.pMale));
    assert.match(faces[0]!.label, /^[MF]\/\d+$/);
    predictor.dispose();

    // A second run reads the cached features instead of recomputing them (no new cache files), and a
    // taken --model-dir is refused with a one-line error.
    const before = (await fs.readdir(cache)).sort();
    const again = await cli([
      ...args,
      '--epochs',
      '1',
      '--model-dir',
      path.join(dir, 'run2'),
      '--feature-cache',
      cache,
      '--json',
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((await fs.readdir(cache)).sort(), before);
    const taken = await cli([...args, '--model-dir', modelDir, '--feature-cache', cache]);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /already holds a run/);
  });

  it('trains on the validation rows too with --include-val and says so in metrics.json', async () => {
    const modelDir = path.join(dir, 'refit');
    const r = await cli([
      ...['train', '--backbone', 'dlib-resnet', '--data', data, '--epochs', '3', '--batch-size', '16'],
      ...['--include-val', 'mine', '--model-dir', modelDir],
      ...['--feature-cache', path.join(dir, 'cache'), '--json'],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const valRows = samples.length - 48;
    assert.ok(valRows > 0);
    assert.equal(result.trainImages, 48 + valRows, 'the validation rows are counted as trained on');
    const metrics = JSON.parse(await fs.readFile(path.join(result.servingDir, 'metrics.json'), 'utf8'));
    assert.deepEqual(metrics.valSeenInTraining, ['mine']);
    assert.equal(metrics.validation[0].n, valRows, 'the validation rows are still scored');
    const plainDir = path.join(dir, 'run', 'serving');
    const [stamp] = await fs.readdir(plainDir);
    const plain = JSON.parse(await fs.readFile(path.join(plainDir, stamp!, 'metrics.json'), 'utf8'));
    assert.equal(plain.valSeenInTraining, undefined, 'a run without the flag does not claim it');
    assert.deepEqual(
      (await metricsLines(modelDir)).map((l) => l.phase),
      ['heads', 'heads', 'heads'],
    );
    const unknown = await cli([
      ...['train', '--backbone', 'dlib-resnet', '--data', data, '--include-val', 'utk', '--model-dir'],
      path.join(dir, 'refit2'),
    ]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /--include-val utk: no such data set \(the sets are mine\)/);
    assert.equal(unknown.stderr.trim().split('\n').length, 1, unknown.stderr);
  });

  it('trains every layer from a bundle on images (--init-from models/default --full-epochs)', async () => {
    const modelDir = path.join(dir, 'full');
    const fromBundle = (bundle: string) => [
      'train',
      '--backbone',
      'dlib-resnet',
      '--data',
      data,
      '--init-from',
      bundle,
    ];
    const r = await cli([
      ...fromBundle('models/default'),
      ...['--full-epochs', '1', '--full-batch-size', '16', '--model-dir', modelDir, '--json'],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const lines = await metricsLines(modelDir);
    // No cache and no heads phase: one epoch of the whole network, scored on the decoded val images.
    assert.deepEqual(
      lines.map((l) => l.phase),
      ['full'],
    );
    assert.ok(Number.isFinite(lines[0].trainLoss));
    assert.equal(lines[0].steps, 4, '49 rows (one image missing) at --full-batch-size 16');
    assert.equal(lines[0].sets[0].n, samples.length - 48);
    assert.equal(result.trainImages, 48, 'the missing image is skipped and not counted');
    assert.ok(!(await exists(path.join(modelDir, 'feature-cache'))), 'no feature cache is built');
    // The backbone itself moved (its first residual conv), its frozen shortcut padding did not, and the
    // bundle keeps the start's preprocessing (face-crop rule included).
    const { loadLayersModelFromDir } = await import('../src/engine/model-io.js');
    const start = await loadLayersModelFromDir('models/default');
    const tuned = await loadLayersModelFromDir(result.servingDir);
    const moved = (layer: string) => {
      const [a, b] = [start, tuned].map((m) => m.getLayer(layer).getWeights()[0]!.dataSync());
      let d = 0;
      for (let i = 0; i < a!.length; i++) d = Math.max(d, Math.abs(a![i]! - b![i]!));
      return d;
    };
    assert.ok(moved('dlib_conv32_1_conv1') > 0);
    assert.equal(moved('dlib_conv64_down_widen'), 0);
    const specOf = async (d: string) =>
      JSON.parse(await fs.readFile(path.join(d, 'preprocess.json'), 'utf8'));
    assert.deepEqual((await specOf(result.servingDir)).faceCrop, (await specOf('models/default')).faceCrop);

    const noEpochs = await cli([...fromBundle('models/default'), '--model-dir', path.join(dir, 'full2')]);
    assert.notEqual(noEpochs.code, 0);
    assert.match(noEpochs.stderr, /--init-from needs --full-epochs N/);
    // A flag of the other path is refused, not silently dropped.
    for (const [args, says] of [
      [
        ['--full-epochs', '1', '--model-dir', path.join(dir, 'full4'), '--img-size', '96'],
        /--img-size applies to a network trained from scratch/,
      ],
      [
        ['train', '--full-epochs', '1', '--model-dir', path.join(dir, 'full5'), '--train-csv', 'x.csv'],
        /--full-epochs applies only with --backbone/,
      ],
    ] as const) {
      const r = await cli(args[0] === 'train' ? [...args] : [...fromBundle('models/default'), ...args]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, says);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const missing = await cli([
      ...fromBundle(path.join(dir, 'no-bundle')),
      ...['--full-epochs', '1', '--model-dir', path.join(dir, 'full3')],
    ]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no-bundle/);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  });

  it('refuses a missing --data folder with a one-line error', async () => {
    const r = await cli([
      'train',
      '--backbone',
      'dlib-resnet',
      '--data',
      path.join(dir, 'nope'),
      '--model-dir',
      path.join(dir, 'x'),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nope/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});

describe('trainOnBackbone (library)', () => {
  it('trains from preprocess folders with progress through a callback and rejects unknown options', async () => {
    const { trainOnBackbone, InvalidOptionError } = await import('../src/index.js');
    await assert.rejects(
      // @ts-expect-error an option that does not exist
      trainOnBackbone({ modelDir: path.join(dir, 'lib0'), data: [data], epoch: 3 }),
      (err: unknown) => err instanceof InvalidOptionError && /unknown option "epoch"/.test(err.message),
    );
    await assert.rejects(
      trainOnBackbone({ modelDir: path.join(dir, 'lib0'), data: [data], initFrom: 'models/default' }),
      (err: unknown) => err instanceof InvalidOptionError && /initFrom needs fullEpochs/.test(err.message),
    );
    const events: { unit: string; done: number }[] = [];
    const result = await trainOnBackbone({
      modelDir: path.join(dir, 'lib'),
      data: [data],
      epochs: 2,
      batchSize: 16,
      cacheDir: path.join(dir, 'lib-cache'),
      augmentViews: 1,
      ensemble: 2,
      features: 'fine',
      weights: 'float16',
      progress: (e) => events.push(e),
    });
    assert.equal(result.trainImages, 48);
    // The training cache holds 3 views per image (plain, mirrored, augmented), the validation one 2.
    const cacheDir = path.join(dir, 'lib-cache');
    const indexes = (await fs.readdir(cacheDir)).filter((f) => f.endsWith('.json'));
    const views: Record<string, number> = {};
    for (const f of indexes) {
      const index = JSON.parse(await fs.readFile(path.join(cacheDir, f), 'utf8'));
      views[f.split('-')[1]!] = index.views;
      const bytes = (await fs.stat(path.join(cacheDir, f.replace(/\.json$/, '.f32')))).size;
      assert.equal(bytes, index.rows.length * index.views * index.per * 4, f);
    }
    assert.deepEqual(views, { train: 3, val: 2 });
    // Two sets of heads, averaged in layers that keep the served names; predict reads it as any bundle.
    const model = JSON.parse(await fs.readFile(path.join(result.servingDir, 'model.json'), 'utf8'));
    const layers: string[] = model.modelTopology.config.layers.map((l: { name: string }) => l.name);
    for (const name of ['m0_age', 'm1_age', 'm0_gender', 'm1_gender', 'age', 'gender'])
      assert.ok(layers.includes(name), `no layer ${name}`);
    const specs: { quantization?: { dtype: string } }[] = model.weightsManifest[0].weights;
    assert.ok(
      specs.every((w) => w.quantization?.dtype === 'float16'),
      'weights: float16 was not applied',
    );
    const predictor = await Predictor.load({ modelDir: result.servingDir, backend: 'wasm' });
    const faces = await predictor.predict(path.join(utkfaceDir, samples[50]!.file), { detect: false });
    assert.equal(faces.length, 1);
    assert.ok(faces[0]!.age >= 0 && faces[0]!.age <= 100 && Number.isFinite(faces[0]!.pMale));
    predictor.dispose();
    assert.equal(result.validation[0]!.name, 'mine');
    assert.ok(
      events.some((e) => /steps/.test(e.unit)),
      'training steps are reported',
    );
  });
});
