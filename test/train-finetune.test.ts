import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Predictor } from '../src/infer/predictor.js';
import { exists } from '../src/util/exists.js';
import { runCli as cli } from './helpers/spawn-cli.js';
import { pickUtkface, tempDir, utkfaceDir, writeLabelsCsv, type UtkSample } from './helpers/fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
/** Two `preprocess`-shaped folders (crop/ of links to real UTKFace crops, train.csv, val.csv). */
let seta: string;
let setb: string;
const samples = pickUtkface(30, 3).filter((s) => s.age <= 100);
const trainA = samples.slice(0, 8);
const valA = samples.slice(8, 12);
const trainB = samples.slice(12, 20);
const valB = samples.slice(20, 24);

async function dataFolder(name: string, train: UtkSample[], val: UtkSample[], extra: UtkSample[] = []) {
  const d = path.join(dir, name);
  await fs.mkdir(path.join(d, 'crop'), { recursive: true });
  for (const s of [...train, ...val])
    await fs.symlink(path.join(utkfaceDir, s.file), path.join(d, 'crop', s.file));
  await writeLabelsCsv(path.join(d, 'train.csv'), [...train, ...extra]);
  await writeLabelsCsv(path.join(d, 'val.csv'), val);
  return d;
}

before(async () => {
  ({ dir, cleanup } = await tempDir());
  // seta's train.csv names one image that does not exist: skipped and counted, never fatal.
  seta = await dataFolder('seta', trainA, valA, [{ file: 'gone.jpg', age: 30, gender: 1 }]);
  setb = await dataFolder('setb', trainB, valB);
});
after(() => cleanup());

const metricsLines = async (modelDir: string) =>
  (await fs.readFile(path.join(modelDir, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const readJson = async (file: string) => JSON.parse(await fs.readFile(file, 'utf8'));
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop()!);

/** The settings of models/default's recipe, as its metrics.json recorded them. */
const RECIPE = [
  'epochs',
  'batchSize',
  'lr',
  'hidden',
  'dropout',
  'features',
  'augmentViews',
  'ensemble',
  'weights',
  'ageSigma',
  'ageBalance',
  'centredAgeTargets',
  'seed',
  'fullEpochs',
];

describe('agegender finetune', () => {
  it("with only --data (twice) and --model-dir trains the default model's recipe, and a bundle predict reads", async () => {
    const modelDir = path.join(dir, 'recipe');
    const r = await cli(['finetune', '--data', seta, '--data', setb, '--model-dir', modelDir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = lastJson(r.stdout);
    assert.equal(result.trainImages, 16, 'the missing image is skipped, the rest used');
    const recorded = (await readJson(path.join(result.servingDir, 'metrics.json'))).settings;
    const shipped = (await readJson('models/default/metrics.json')).settings;
    for (const name of RECIPE) assert.deepEqual(recorded[name], shipped[name], name);
    assert.deepEqual(recorded.data, [seta, setb]);
    // 15 epochs of the heads on frozen features, then 3 of every layer on images, each scored on both
    // validation sets.
    const lines = await metricsLines(modelDir);
    assert.deepEqual(
      lines.map((l) => l.phase),
      [...Array(15).fill('heads'), ...Array(3).fill('full')],
    );
    assert.deepEqual(
      lines[14].sets.map((s: { name: string; n: number }) => [s.name, s.n]),
      [
        ['seta', 4],
        ['setb', 4],
      ],
    );
    const spec = await readJson(path.join(result.servingDir, 'preprocess.json'));
    assert.equal(spec.imageSize, 150);
    assert.equal(spec.normalization.kind, 'mean-scale');
    assert.equal(spec.faceCrop.detector, 'ssd-mobilenetv1');
    // Four sets of heads averaged in layers that keep the served names, stored as float16.
    const model = await readJson(path.join(result.servingDir, 'model.json'));
    const layers: string[] = model.modelTopology.config.layers.map((l: { name: string }) => l.name);
    for (const name of ['m0_age', 'm3_gender', 'age', 'gender']) assert.ok(layers.includes(name), name);
    assert.ok(
      model.weightsManifest[0].weights.every(
        (w: { quantization?: { dtype: string } }) => w.quantization?.dtype === 'float16',
      ),
    );
    // The feature cache: 4 views per training image (plain, mirrored, 2 augmented), 2 per validation one,
    // each view the heads' 2,304 features as float16.
    const cache = path.join(modelDir, 'feature-cache');
    const views: Record<string, number> = {};
    for (const entry of await fs.readdir(cache)) {
      const index = await readJson(path.join(cache, entry, 'block-00000.json'));
      views[entry.split('-').slice(0, 2).join('-')] = index.views;
      const bytes = (await fs.stat(path.join(cache, entry, 'block-00000.f16'))).size;
      assert.equal(index.per, 2304);
      assert.equal(bytes, index.rows.length * index.views * 2304 * 2, entry);
    }
    assert.deepEqual(views, { 'seta-train': 4, 'seta-val': 2, 'setb-train': 4, 'setb-val': 2 });

    const predictor = await Predictor.load({ modelDir: result.servingDir, backend: 'wasm' });
    const faces = await predictor.predict(path.join(utkfaceDir, valA[0]!.file), { detect: false });
    assert.equal(faces.length, 1);
    assert.ok(faces[0]!.age >= 0 && faces[0]!.age <= 100 && Number.isFinite(faces[0]!.pMale));
    predictor.dispose();

    // Another run on the same cache reads it instead of recomputing (no new files); a taken --model-dir
    // is refused with a one-line error.
    const before = (await fs.readdir(cache)).sort();
    const again = await cli([
      ...['finetune', '--data', seta, '--data', setb, '--epochs', '1', '--full-epochs', '0'],
      ...['--model-dir', path.join(dir, 'again'), '--feature-cache', cache, '--json'],
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((await fs.readdir(cache)).sort(), before);
    const taken = await cli(['finetune', '--data', seta, '--model-dir', modelDir]);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /already holds a run/);
  });

  it('trains on the validation rows too with --include-val and says so in metrics.json', async () => {
    const modelDir = path.join(dir, 'refit');
    const cache = path.join(dir, 'recipe', 'feature-cache');
    const r = await cli([
      ...['finetune', '--data', seta, '--epochs', '3', '--full-epochs', '0', '--include-val', 'seta'],
      ...['--model-dir', modelDir, '--feature-cache', cache, '--json'],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const result = lastJson(r.stdout);
    assert.equal(result.trainImages, 8 + 4, 'the validation rows are counted as trained on');
    const metrics = await readJson(path.join(result.servingDir, 'metrics.json'));
    assert.deepEqual(metrics.valSeenInTraining, ['seta']);
    assert.equal(metrics.validation[0].n, 4, 'the validation rows are still scored');
    const unknown = await cli([
      ...['finetune', '--data', seta, '--include-val', 'utk', '--model-dir', path.join(dir, 'refit2')],
    ]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /--include-val utk: no such data set \(the sets are seta\)/);
    assert.equal(unknown.stderr.trim().split('\n').length, 1, unknown.stderr);
  });

  it('trains every layer from a bundle on images (--init-from models/default --full-epochs)', async () => {
    const modelDir = path.join(dir, 'full');
    const fromBundle = (bundle: string) => ['finetune', '--data', seta, '--init-from', bundle];
    const r = await cli([
      ...fromBundle('models/default'),
      ...['--full-epochs', '1', '--full-batch-size', '4', '--model-dir', modelDir, '--json'],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const result = lastJson(r.stdout);
    const lines = await metricsLines(modelDir);
    // No cache and no heads phase: one epoch of the whole network, scored on the decoded val images.
    assert.deepEqual(
      lines.map((l) => [l.phase, l.steps]),
      [['full', 3]],
      '9 rows (one image missing) at --full-batch-size 4',
    );
    assert.ok(Number.isFinite(lines[0].trainLoss));
    assert.equal(lines[0].sets[0].n, 4);
    assert.equal(result.trainImages, 8, 'the missing image is skipped and not counted');
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
    const specOf = (d: string) => readJson(path.join(d, 'preprocess.json'));
    assert.deepEqual((await specOf(result.servingDir)).faceCrop, (await specOf('models/default')).faceCrop);

    const noEpochs = await cli([
      ...fromBundle('models/default'),
      ...['--full-epochs', '0', '--model-dir', path.join(dir, 'full2')],
    ]);
    assert.notEqual(noEpochs.code, 0);
    assert.match(noEpochs.stderr, /initFrom needs fullEpochs > 0/);
    assert.equal(noEpochs.stderr.trim().split('\n').length, 1, noEpochs.stderr);
    // Each command has only its own flags: train's are unknown here.
    const other = await cli([...fromBundle('models/default'), '--img-size', '96', '--model-dir', 'x']);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /unknown option '--img-size'/);
    const missing = await cli([
      ...fromBundle(path.join(dir, 'no-bundle')),
      ...['--full-epochs', '1', '--model-dir', path.join(dir, 'full3')],
    ]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no-bundle/);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  });

  it('refuses a missing --data folder with a one-line error', async () => {
    const r = await cli(['finetune', '--data', path.join(dir, 'nope'), '--model-dir', path.join(dir, 'x')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nope/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});

describe('finetune (library)', () => {
  it('trains with progress through a callback, and rejects unknown options and an aborted signal', async () => {
    const { finetune, InvalidOptionError, StoppedError } = await import('../src/training.js');
    await assert.rejects(
      // @ts-expect-error an option that does not exist
      finetune({ modelDir: path.join(dir, 'lib0'), data: [seta], epoch: 3 }),
      (err: unknown) => err instanceof InvalidOptionError && /unknown option "epoch"/.test(err.message),
    );
    const stopped = new AbortController();
    stopped.abort();
    await assert.rejects(
      finetune({ modelDir: path.join(dir, 'lib0'), data: [seta], signal: stopped.signal }),
      (err: unknown) => err instanceof StoppedError && err.exitCode === 130,
    );
    assert.ok(!(await exists(path.join(dir, 'lib0'))), 'an aborted signal stops before any work');
    const events: { unit: string; done: number }[] = [];
    const result = await finetune({
      modelDir: path.join(dir, 'lib'),
      data: [seta],
      epochs: 2,
      fullEpochs: 0,
      featureCache: path.join(dir, 'recipe', 'feature-cache'),
      progress: (e) => events.push(e),
    });
    assert.equal(result.trainImages, 8);
    assert.equal(result.validation[0]!.name, 'seta');
    assert.ok(
      events.some((e) => e.unit === 'heads steps'),
      'training steps are reported',
    );
  });
});

describe('the feature cache', () => {
  // Small runs: one set of heads, no augmented views, one epoch; only the cache's behaviour is checked.
  const run = (data: string, cache: string, modelDir: string) =>
    cli([
      ...['finetune', '--data', data, '--epochs', '1', '--full-epochs', '0', '--augment-views', '0'],
      ...['--ensemble', '1', '--feature-cache', cache, '--model-dir', path.join(dir, modelDir), '--json'],
    ]);

  it('is not poisoned by a failed run: crop/ moved away fails in one line, moved back the same command trains', async () => {
    const data = await dataFolder('setc', trainA, valA);
    const cache = path.join(dir, 'cache-c');
    const crop = path.join(data, 'crop');
    await fs.rename(crop, `${crop}.away`);
    const failed = await run(data, cache, 'c1');
    assert.notEqual(failed.code, 0);
    assert.equal(failed.stderr.trim().split('\n').length, 1, failed.stderr);
    await fs.rename(`${crop}.away`, crop);
    const ok = await run(data, cache, 'c2');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(lastJson(ok.stdout).trainImages, 8);
  });

  it("is keyed by the images' content: other images under the same names are not read from it", async () => {
    const data = await dataFolder('setd', trainA, valA);
    const cache = path.join(dir, 'cache-d');
    const first = await run(data, cache, 'd1');
    assert.equal(first.code, 0, first.stderr);
    const before = (await fs.readdir(cache)).sort();
    // The same file names, other faces: each training name now links to the next one's image.
    for (const [i, s] of trainA.entries()) {
      const link = path.join(data, 'crop', s.file);
      await fs.rm(link);
      await fs.symlink(path.join(utkfaceDir, trainA[(i + 1) % trainA.length]!.file), link);
    }
    const second = await run(data, cache, 'd2');
    assert.equal(second.code, 0, second.stderr);
    const after = (await fs.readdir(cache)).sort();
    const added = after.filter((f) => !before.includes(f));
    assert.deepEqual(
      added.map((f) => f.split('-').slice(0, 2).join('-')),
      ['setd-train'],
      'the training features are computed again; the unchanged validation ones are reused',
    );
  });
});
