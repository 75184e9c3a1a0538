/**
 * Heads training at IMDB-WIKI scale without the images: synthetic rows (random features of the real shape,
 * dlib 'fine': 2,304 float16 values a view, in blocks of 1,024 rows as the feature cache writes them), then
 * one epoch of the default recipe's heads (4 sets, hidden 512, batch 64) streamed from that cache.
 *
 * Every batch of the epoch is read from disk and assembled (all blocks, in the epoch's drawn order, so
 * peak RSS is that of streaming the whole cache), but only `--steps` of them, spread evenly over the
 * epoch in `--segments` runs of consecutive batches, are trained on: a full epoch at 500k rows takes
 * hours on 2 cores. The epoch time is then the measured reading time of every batch plus batches x the
 * median model step (extrapolated, and said so in the output); `--steps 0` trains on every batch instead.
 * A model step on a batch held in memory, timed right after, tells the machine's load from streaming's cost.
 * Prints one JSON line.
 *
 *   npx tsx bench/train-heads-scale.ts --rows 20000 [--views 4] [--steps 32] [--segments 4] [--dir var/scale] [--group-mb 1024] [--backend auto]
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { headEnsemble } from '../src/model/heads.js';
import { type FeatureSet, readBits } from '../src/train/finetune/feature-cache.js';
import { GROUP_BYTES, featureBatches } from '../src/train/finetune/feature-sets.js';
import { setupBackend } from '../src/train/backend-setup.js';
import { fit } from '../src/train/fit.js';
import { learningRateAt } from '../src/train/schedule.js';
import type { StepBatch } from '../src/train/step.js';
import { mulberry32 } from '../src/util/random.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '20000' },
    views: { type: 'string', default: '4' },
    steps: { type: 'string', default: '32' },
    dir: { type: 'string', default: 'var/scale' },
    backend: { type: 'string', default: 'auto' },
    segments: { type: 'string', default: '4' },
    'group-mb': { type: 'string', default: String(GROUP_BYTES / 2 ** 20) },
  },
});
const rows = Number(args.rows);
const views = Number(args.views);
const per = 2304;
const blockRows = 1024;
const batchSize = 64;
const engine = await setupBackend(args.backend as never);

// The synthetic cache, block by block (never all in memory): halves in [0.5, 2), as the backbone's
// pooled ReLU features (mean ~1.2), drawn by xorshift32 two at a time.
const dir = path.join(args.dir!, `rows-${rows}-views-${views}`);
await fs.mkdir(dir, { recursive: true });
let state = 0x9e3779b9;
const reads = { blocks: 0, seconds: 0 };
const blocks: FeatureSet['blocks'] = [];
let disk = 0;
for (let start = 0; start < rows; start += blockRows) {
  const count = Math.min(blockRows, rows - start);
  const file = path.join(dir, `block-${String(start / blockRows).padStart(5, '0')}.f16`);
  const size = count * views * per * 2;
  if ((await fs.stat(file).catch(() => null))?.size !== size) {
    const pairs = new Uint32Array(size / 4);
    for (let i = 0; i < pairs.length; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      pairs[i] = (state & 0x07ff07ff) | 0x38003800;
    }
    await fs.writeFile(file, pairs);
  }
  disk += size;
  blocks.push({
    start,
    count,
    load: async () => {
      const t = performance.now();
      const bits = await readBits(file);
      reads.blocks++;
      reads.seconds += (performance.now() - t) / 1000;
      return bits;
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
const batches = featureBatches([set], batchSize, mulberry32(6), groupBytes);
const epoch = batches.stepsPerEpoch;
const steps = Number(args.steps) > 0 ? Math.min(Number(args.steps), epoch) : epoch;
// Trained batches: `segments` runs of consecutive batches (as training reads them), starting at evenly
// spaced points of the epoch; the batches between are read and assembled only.
const segments = Math.min(Number(args.segments), steps);
const perSegment = Math.ceil(steps / segments);
const segmentStart = (k: number) => Math.floor((k * epoch) / segments);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
let pulled = 0;
let dataSeconds = 0;
const pull = async (): Promise<StepBatch> => {
  const t = performance.now();
  const batch = await batches.next();
  dataSeconds += (performance.now() - t) / 1000;
  pulled++;
  return batch;
};

// One warm-up step (kernel set-up, weight packing) outside the timing, on a batch not from the cache.
const warmBatch: StepBatch = {
  x: Float32Array.from({ length: batchSize * per }, (_, i) => 0.5 + (i % 1499) / 1000),
  shape: [per],
  ages: Array.from({ length: batchSize }, (_, i) => i),
  genders: Array.from({ length: batchSize }, (_, i) => i % 2),
};
await fit({
  phase: 'heads',
  model,
  next: () => warmBatch,
  steps: 1,
  stepsPerEpoch: 1,
  lr: () => 1e-3,
  ageSigma: 2,
  json: true,
});

// Each trained step's model time (forward, backward, Adam): from its batch's arrival to the step's end.
const stepWall: number[] = [];
const stepCpu: number[] = [];
let arrived = { wall: 0, cpu: 0 };
let trained = 0;
await fit({
  phase: 'heads',
  model,
  next: async () => {
    const k = Math.floor(trained / perSegment);
    if (trained++ % perSegment === 0) while (pulled < segmentStart(k)) await pull();
    const batch = await pull();
    arrived = { wall: performance.now(), cpu: cpu() };
    return batch;
  },
  steps,
  stepsPerEpoch: steps,
  lr: (step) => learningRateAt(step, steps, 1e-3),
  ageSigma: 2,
  json: true,
  callbacks: [
    {
      onStep: () => {
        stepWall.push((performance.now() - arrived.wall) / 1000);
        stepCpu.push(cpu() - arrived.cpu);
      },
    },
  ],
});
// The rest of the epoch's batches: read and assembled, so every block of the cache is streamed once.
while (pulled < epoch) await pull();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
// The median: the first step after a skip also collects the skipped batches' garbage, which training,
// reading one batch a step, does not make.
const stepSeconds = median(stepWall);
// The same model step on one batch held in memory, right after: what the machine gives a step now, so a
// slower step inside the epoch would show the streaming's cost (GC, page cache) rather than the load.
const reference = Math.min(16, steps);
const t1 = performance.now();
await fit({
  phase: 'heads',
  model,
  next: () => warmBatch,
  steps: reference,
  stepsPerEpoch: reference,
  lr: () => 1e-4,
  ageSigma: 2,
  json: true,
});
const referenceSeconds = (performance.now() - t1) / 1000 / reference;
const round = (x: number, d = 3) => +x.toFixed(d);
console.log(
  JSON.stringify({
    rows,
    views,
    diskMB: Math.round(disk / 2 ** 20),
    bytesPerView: per * 2,
    streamed: disk > groupBytes,
    stepsPerEpoch: epoch,
    stepsTimed: steps,
    // The model step (forward, backward, Adam) on a batch, median and mean of the trained steps; flat in the number of rows.
    modelSecondsPerStep: round(stepSeconds),
    modelSecondsPerStepMean: round(mean(stepWall)),
    modelCpuSecondsPerStep: round(median(stepCpu)),
    inMemorySecondsPerStep: round(referenceSeconds),
    // Reading the blocks from disk and assembling the batches, for every batch of the epoch (measured).
    dataSecondsPerEpoch: round(dataSeconds, 1),
    blockReadSeconds: round(reads.seconds, 1),
    blocksRead: reads.blocks,
    secondsPerStep: round(stepSeconds + dataSeconds / epoch),
    secondsPerEpoch: round(dataSeconds + epoch * stepSeconds, 1),
    epochTime:
      steps === epoch
        ? 'measured: every batch trained'
        : `extrapolated: ${steps} of ${epoch} batches trained (${segments} runs spread over the epoch), every batch read`,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    engine,
  }),
);
