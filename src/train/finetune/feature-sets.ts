import * as tf from '@tensorflow/tfjs';
import { fromFloat16, fromFloat16Into } from '../../engine/float16.js';
import { FlipMetricsAccumulator, type SetReport } from '../../model/metrics.js';
import { shuffleInPlace } from '../../util/random.js';
import type { StepBatch } from '../step.js';
import { FLIPPED_VIEW, PLAIN_VIEW, type FeatureBlock, type FeatureSet } from './feature-cache.js';

/**
 * Cached feature sets as the heads phase reads them: drawn as training batches, and scored, block by
 * block from disk. Rows are numbered globally over a list of sets, in order.
 */

/**
 * How many bytes of cached features (float16) training holds in memory at once. Sets that fit (UTKFace +
 * AAF with 4 views: ~0.5 GB) are read once and shuffled as a whole; larger ones (IMDB-WIKI: ~8 GB) are
 * streamed in groups of blocks of about this size, so memory stays flat in the number of rows.
 */
export const GROUP_BYTES = 1 << 30;

/** One block of one set, and where its rows start in the global numbering. */
interface Unit {
  set: number;
  block: FeatureBlock;
  global: number;
  bytes: number;
}

/**
 * Training batches over every row of `sets`, each row in a random one of its views (the augmentation),
 * all drawn from `rand`. When every row fits in `groupBytes`, each epoch is one shuffle of all rows;
 * otherwise each epoch draws an order of the blocks, cuts it into groups of about `groupBytes`, and
 * shuffles the rows within each group (a batch may straddle two groups); only the blocks of the group
 * being read are held (`heldBytes`), so memory stays flat in the number of rows.
 */
export function featureBatches(
  sets: FeatureSet[],
  batchSize: number,
  rand: () => number,
  groupBytes = GROUP_BYTES,
  /** Weight of a row's age term by its age (index = age; train/age-bands.ts); absent = none. */
  ageWeights?: Float32Array,
): { stepsPerEpoch: number; next: () => Promise<StepBatch>; heldBytes: () => number } {
  const units: Unit[] = [];
  let offset = 0;
  for (const [i, s] of sets.entries()) {
    for (const block of s.blocks)
      units.push({ set: i, block, global: offset + block.start, bytes: block.count * s.views * s.per * 2 });
    offset += s.rows.length;
  }
  const total = offset;
  const unitOf = new Uint32Array(total);
  for (const [u, unit] of units.entries()) unitOf.fill(u, unit.global, unit.global + unit.block.count);
  const all = Uint32Array.from({ length: total }, (_, i) => i);
  const whole = units.reduce((n, u) => n + u.bytes, 0) <= groupBytes;
  const stepsPerEpoch = Math.ceil(total / batchSize);
  const loaded = new Map<number, Uint16Array>();
  let order = all;
  /** Streaming: the group of each unit in this epoch's order, and the group being read. */
  const groupOf = new Uint32Array(units.length);
  let current = -1;
  let b = 0;

  const drawOrder = () => {
    if (whole) return shuffleInPlace(Uint32Array.from(all), rand);
    const shuffled = shuffleInPlace(
      Uint32Array.from(units, (_, u) => u),
      rand,
    );
    const out = new Uint32Array(total);
    let at = 0;
    for (let g = 0, u = 0; u < shuffled.length; g++) {
      const start = at;
      let bytes = 0;
      do {
        groupOf[shuffled[u]!] = g;
        const unit = units[shuffled[u++]!]!;
        for (let r = 0; r < unit.block.count; r++) out[at++] = unit.global + r;
        bytes += unit.bytes;
      } while (u < shuffled.length && bytes + units[shuffled[u]!]!.bytes <= groupBytes);
      shuffleInPlace(out.subarray(start, at), rand);
    }
    return out;
  };

  return {
    stepsPerEpoch,
    heldBytes: () => [...loaded.keys()].reduce((n, u) => n + units[u]!.bytes, 0),
    next: async () => {
      if (b % stepsPerEpoch === 0) {
        order = drawOrder();
        current = -1;
      }
      const at = (b++ % stepsPerEpoch) * batchSize;
      const idx = order.subarray(at, at + batchSize);
      const per = sets[0]!.per;
      const x = new Float32Array(idx.length * per);
      const ages = new Int32Array(idx.length);
      const genders = new Int32Array(idx.length);
      const weights = ageWeights ? new Float32Array(idx.length) : undefined;
      for (let j = 0; j < idx.length; j++) {
        const global = idx[j]!;
        const u = unitOf[global]!;
        // Streaming: the groups come one after another in `order`, so the first row of a new group means
        // the last one is done for this epoch: its blocks are let go before the new group's are read,
        // and memory holds one group even for a batch that straddles two.
        if (!whole && groupOf[u] !== current) {
          loaded.clear();
          current = groupOf[u]!;
        }
        let bits = loaded.get(u);
        if (!bits) {
          bits = await units[u]!.block.load();
          loaded.set(u, bits);
        }
        const unit = units[u]!;
        const set = sets[unit.set]!;
        const r = global - unit.global;
        // Each row in a random one of its views (the augmentation).
        const view = Math.min(set.views - 1, Math.floor(rand() * set.views));
        const from = (r * set.views + view) * per;
        fromFloat16Into(bits.subarray(from, from + per), x, j * per);
        const row = set.rows[unit.block.start + r]!;
        ages[j] = row.age;
        genders[j] = row.gender;
        if (weights) weights[j] = ageWeights![row.age]!;
      }
      return { x, shape: sets[0]!.shape, ages, genders, ...(weights ? { ageWeights: weights } : {}) };
    },
  };
}

/** Metrics on one set, block by block: on the plain view, and on the average of the plain and mirrored views. */
export async function scoreFeatures(model: tf.LayersModel, s: FeatureSet, name: string): Promise<SetReport> {
  const scores = new FlipMetricsAccumulator();
  const chunk = 256;
  const V = s.views;
  for (const block of s.blocks) {
    const data = fromFloat16(await block.load());
    for (let i = 0; i < block.count; i += chunk) {
      const k = Math.min(chunk, block.count - i);
      const rows = s.rows.slice(block.start + i, block.start + i + k);
      scores.addPredictions(
        model,
        () => tf.tensor(data.subarray(i * V * s.per, (i + k) * V * s.per), [k * V, ...s.shape]),
        (j) => j * V + PLAIN_VIEW,
        (j) => j * V + FLIPPED_VIEW,
        rows.map((r) => r.age),
        rows.map((r) => r.gender),
      );
    }
  }
  return scores.report(name);
}
