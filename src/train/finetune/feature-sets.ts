import * as tf from '@tensorflow/tfjs';
import { FlipMetricsAccumulator, type SetReport } from '../../model/metrics.js';
import { shuffleInPlace } from '../../util/random.js';
import type { StepBatch } from '../step.js';
import { FLIPPED_VIEW, PLAIN_VIEW, type FeatureSet } from './feature-cache.js';

/**
 * Cached feature sets as the heads phase uses them: drawn as training batches, and scored. Rows are numbered globally over a list of sets, in order.
 */

/**
 * Training batches over every row of `sets`: a new shuffled order each epoch, each row in a random one
 * of its views (the augmentation), all drawn from `rand`.
 */
export function featureBatches(
  sets: FeatureSet[],
  batchSize: number,
  rand: () => number,
): { stepsPerEpoch: number; next: () => StepBatch } {
  const all = Uint32Array.from({ length: sets.reduce((k, s) => k + s.rows.length, 0) }, (_, i) => i);
  const stepsPerEpoch = Math.ceil(all.length / batchSize);
  let order = all;
  let b = 0;
  return {
    stepsPerEpoch,
    next: () => {
      if (b % stepsPerEpoch === 0) order = shuffleInPlace(Uint32Array.from(all), rand);
      const at = (b++ % stepsPerEpoch) * batchSize;
      return gather(sets, order.subarray(at, at + batchSize), rand);
    },
  };
}

/** The rows at global indices `idx`, each in a random one of its views. */
function gather(sets: FeatureSet[], idx: Uint32Array, rand: () => number): StepBatch {
  const per = sets[0]!.per;
  const x = new Float32Array(idx.length * per);
  const ages = new Int32Array(idx.length);
  const genders = new Int32Array(idx.length);
  idx.forEach((global, j) => {
    const { set: s, row: i } = locate(sets, global);
    const set = sets[s]!;
    const view = Math.min(set.views - 1, Math.floor(rand() * set.views));
    const at = (i * set.views + view) * per;
    x.set(set.data.subarray(at, at + per), j * per);
    ages[j] = set.rows[i]!.age;
    genders[j] = set.rows[i]!.gender;
  });
  return { x, shape: sets[0]!.shape, ages, genders };
}

/** Which set global row `global` is in, and its row there. */
function locate(sets: FeatureSet[], global: number): { set: number; row: number } {
  let row = global;
  let set = 0;
  while (row >= sets[set]!.rows.length) row -= sets[set++]!.rows.length;
  return { set, row };
}

/** Metrics on one set: on the plain view, and on the average of the plain and mirrored views. */
export function scoreFeatures(model: tf.LayersModel, s: FeatureSet, name: string): SetReport {
  const scores = new FlipMetricsAccumulator();
  const chunk = 256;
  const V = s.views;
  for (let i = 0; i < s.rows.length; i += chunk) {
    const k = Math.min(chunk, s.rows.length - i);
    const rows = s.rows.slice(i, i + k);
    scores.addPredictions(
      model,
      () => tf.tensor(s.data.subarray(i * V * s.per, (i + k) * V * s.per), [k * V, ...s.shape]),
      (j) => j * V + PLAIN_VIEW,
      (j) => j * V + FLIPPED_VIEW,
      rows.map((r) => r.age),
      rows.map((r) => r.gender),
    );
  }
  return scores.report(name);
}
