/**
 * Does the training step wait on image decoding? Times training steps fed by the real input pipeline
 * (TrainStream: sharp decode + resize in libvips threads, standardise, flip/shift, prefetch) against the
 * same steps fed one cached batch, in one run, and prints the ratio (goal: within 10%).
 *
 *   npx tsx bench/input-pipeline.ts [--img-dir ../shared/data/utkface] [--csv FILE] [--arch resnet-s]
 *                                   [--size 64] [--batch 64] [--steps 20]
 *
 * Without --csv it builds a CSV of UTKFace crops from ../shared (200x200 JPEGs: the heavier decode).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { TrainStream } from '../src/data/dataset-stream.js';
import { readLabelsCsv } from '../src/data/labels-csv.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { createAdam } from '../src/engine/adam.js';
import { buildModel } from '../src/model/index.js';
import { ageTargets, genderTargets, jointLoss } from '../src/model/losses.js';
import { setupBackend } from '../src/train/backend-setup.js';

const { values } = parseArgs({
  options: {
    'img-dir': { type: 'string' },
    csv: { type: 'string' },
    arch: { type: 'string', default: 'resnet-s' },
    size: { type: 'string', default: '64' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '20' },
  },
});
const size = Number(values.size);
const batchSize = Number(values.batch);
const steps = Number(values.steps);
const shared = path.resolve(import.meta.dirname, '..', '..', 'shared', 'data', 'utkface');
const imgDir = values['img-dir'] ?? shared;
let csv = values.csv;
if (!csv) {
  const names = (await fs.readdir(shared)).filter((n) => /^\d+_[01]_\d_\d+\.jpg\.chip\.jpg$/.test(n)).sort();
  const rows = names
    .filter((_, i) => i % 7 === 0)
    .map((n) => n.split('_'))
    .filter(([a]) => Number(a) <= 100)
    .map((p) => `${p.join('_')},${p[0]},${p[1] === '0' ? 1 : 0}`);
  csv = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'agegender-bench-')), 'rows.csv');
  await fs.writeFile(csv, ['filename,age,gender', ...rows].join('\n') + '\n');
}
const backend = await setupBackend('auto');
const rows = await readLabelsCsv(csv);
const spec = defaultPreprocessSpec(size);
const model = buildModel(values.arch!, { imageSize: size, seed: 1 });
const opt = createAdam(1e-3);
const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
const step = (b: { x: Float32Array; ages: Int32Array; genders: Int32Array; size: number }) =>
  tf.tidy(() => {
    const x = tf.tensor4d(b.x, [b.size, size, size, 3]);
    const a = tf.tensor2d(ageTargets(b.ages, 2), [b.size, 101]);
    const g = tf.tensor2d(genderTargets(b.genders), [b.size, 2]);
    return opt
      .minimize(
        () => {
          const [pa, pg] = model.apply(x, { training: true }) as tf.Tensor2D[];
          return jointLoss(pa!, pg!, a, g);
        },
        true,
        vars,
      )!
      .dataSync()[0];
  });

const stream = new TrainStream(rows, { imgDir, spec, batchSize, augment: true, seed: 1 });
const cached = await stream.next();
step(cached);
step(cached);
// Alternate the two feeds in blocks so that load changes on a shared machine hit both alike.
let tCached = 0;
let tStream = 0;
for (let block = 0; block < 4; block++) {
  let t0 = performance.now();
  for (let i = 0; i < steps / 4; i++) step(cached);
  tCached += performance.now() - t0;
  t0 = performance.now();
  for (let i = 0; i < steps / 4; i++) step(await stream.next());
  tStream += performance.now() - t0;
}
const perStep = (t: number) => t / steps;
console.log(`${backend}, ${values.arch} ${size}x${size}, batch ${batchSize}, images from ${imgDir}`);
console.log(`cached batch : ${perStep(tCached).toFixed(1)} ms/step`);
console.log(`real decoding: ${perStep(tStream).toFixed(1)} ms/step`);
console.log(`ratio ${(tStream / tCached).toFixed(3)} (goal <= 1.10)`);
