/**
 * Heads training at IMDB-WIKI scale without the images: synthetic rows (random features of the real shape,
 * dlib 'fine': 2,304 float16 values a view) written as a feature cache, then one epoch of the default
 * recipe's heads (4 sets, hidden 512, batch 64) streamed from it. Prints rows, views, disk, peak RSS and
 * seconds per epoch as one JSON line.
 *
 *   npx tsx bench/train-heads-scale.ts --rows 20000 [--views 4] [--dir var/scale] [--group-mb 1024] [--backend auto]
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { toFloat16 } from '../src/engine/float16.js';
import { headEnsemble } from '../src/model/heads.js';
import type { FeatureSet } from '../src/train/finetune/feature-cache.js';
import { GROUP_BYTES, featureBatches } from '../src/train/finetune/feature-sets.js';
import { setupBackend } from '../src/train/backend-setup.js';
import { fit } from '../src/train/fit.js';
import { learningRateAt } from '../src/train/schedule.js';
import { mulberry32 } from '../src/util/random.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '20000' },
    views: { type: 'string', default: '4' },
    dir: { type: 'string', default: 'var/scale' },
    backend: { type: 'string', default: 'auto' },
    'group-mb': { type: 'string', default: String(GROUP_BYTES / 2 ** 20) },
  },
});
const rows = Number(args.rows);
const views = Number(args.views);
const per = 2304;
const blockRows = 1024;
const engine = await setupBackend(args.backend as never);

// The synthetic cache, block by block (never all in memory).
const dir = path.join(args.dir!, `rows-${rows}-views-${views}`);
await fs.mkdir(dir, { recursive: true });
const rand = mulberry32(1);
const blocks: FeatureSet['blocks'] = [];
let disk = 0;
for (let start = 0; start < rows; start += blockRows) {
  const count = Math.min(blockRows, rows - start);
  const file = path.join(dir, `block-${String(start / blockRows).padStart(5, '0')}.f16`);
  const size = count * views * per * 2;
  if ((await fs.stat(file).catch(() => null))?.size !== size) {
    const values = Float32Array.from({ length: count * views * per }, () => rand() * 2);
    await fs.writeFile(file, toFloat16(values));
  }
  disk += size;
  blocks.push({
    start,
    count,
    load: async () => {
      const bytes = await fs.readFile(file);
      return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
    },
  });
}
const set: FeatureSet = {
  rows: Array.from({ length: rows }, (_, i) => ({
    filename: `${i}`,
    age: i % 101,
    gender: (i % 2) as 0 | 1,
  })),
  views,
  per,
  shape: [per],
  skipped: 0,
  blocks,
};

const ensemble = headEnsemble({ hidden: 512, dropout: 0.3, seed: 1, normalizeInput: true }, 4);
const input = tf.input({ shape: [per] });
const model = tf.model({ inputs: input, outputs: ensemble.each(input).flat() });
const groupBytes = Number(args['group-mb']) * 2 ** 20;
const batches = featureBatches([set], 64, mulberry32(6), groupBytes);
const t0 = Date.now();
await fit({
  phase: 'heads',
  model,
  next: batches.next,
  steps: batches.stepsPerEpoch,
  stepsPerEpoch: batches.stepsPerEpoch,
  lr: (step) => learningRateAt(step, batches.stepsPerEpoch, 1e-3),
  ageSigma: 2,
  json: true,
});
const seconds = (Date.now() - t0) / 1000;
console.log(
  JSON.stringify({
    rows,
    views,
    diskMB: Math.round(disk / 2 ** 20),
    bytesPerView: per * 2,
    streamed: disk > groupBytes,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    secondsPerEpoch: +seconds.toFixed(1),
    engine,
  }),
);
