import * as tf from '@tensorflow/tfjs';
import { expectedAge, maleProbability } from '../model/metrics.js';
import { mulberry32, shuffledRange } from '../util/random.js';
import { FLIPPED_VIEW, PLAIN_VIEW, type FeatureSet } from './feature-cache.js';

/**
 * Finds training rows whose gender label the rest of the data contradicts, so that training can leave
 * them out. Face datasets carry such mistakes: of the 12 UTKFace + AAF training rows the audit trusted
 * least, all 12 were plainly labelled wrong (bearded men filed as women, women filed as men). Heads trained
 * on them learn the wrong answer; a test row like them is scored wrong whatever the model says, so only
 * the training side can be cleaned.
 *
 * How: the rows are dealt into `folds` parts; for each part, fresh heads train on the other parts'
 * cached features (cheap: no backbone pass), and give that part's rows their out-of-fold probability of
 * the gender they are labelled with (mean of the plain and mirrored views). A row is a suspect when that
 * probability is under `threshold`: every other face says it is the other gender.
 */
export interface LabelAuditOptions {
  /** Parts the rows are dealt into (each scored by heads that never saw it). */
  folds: number;
  /** A row whose out-of-fold P(its gender label) is below this is a suspect. */
  threshold: number;
  seed: number;
  /** Trains fresh heads on the rows `use` (global indices over the sets) and returns them. */
  trainFold: (use: Uint32Array, fold: number) => Promise<tf.LayersModel>;
}

export interface LabelAudit {
  /** Per global row index: out-of-fold probability of its gender label, and expected age. */
  pLabel: Float32Array;
  predictedAge: Float32Array;
  /** Global indices of the suspects, least trusted first. */
  suspects: number[];
  /** Global indices of the rows to train on (every row but the suspects), ascending. */
  keep: Uint32Array;
}

export async function auditGenderLabels(sets: FeatureSet[], opts: LabelAuditOptions): Promise<LabelAudit> {
  const n = sets.reduce((k, s) => k + s.rows.length, 0);
  const fold = foldOf(n, opts.folds, opts.seed);
  const pLabel = new Float32Array(n);
  const predictedAge = new Float32Array(n);
  for (let f = 0; f < opts.folds; f++) {
    const held = indicesWhere(fold, (k) => k === f);
    const model = await opts.trainFold(
      indicesWhere(fold, (k) => k !== f),
      f,
    );
    try {
      predictHeld(model, sets, held, pLabel, predictedAge);
    } finally {
      model.dispose();
    }
  }
  const suspects = [...pLabel.keys()]
    .filter((i) => pLabel[i]! < opts.threshold)
    .sort((a, b) => pLabel[a]! - pLabel[b]!);
  const out = new Set(suspects);
  const keep = Uint32Array.from([...pLabel.keys()].filter((i) => !out.has(i)));
  return { pLabel, predictedAge, suspects, keep };
}

/** Fold of each row: a seeded deal, so the same rows land in the same parts in every run. */
export function foldOf(n: number, folds: number, seed: number): Uint8Array {
  const order = shuffledRange(n, mulberry32(seed ^ 0x5eed));
  const fold = new Uint8Array(n);
  order.forEach((row, at) => (fold[row] = at % folds));
  return fold;
}

function indicesWhere(fold: Uint8Array, pred: (k: number) => boolean): Uint32Array {
  const out: number[] = [];
  fold.forEach((k, i) => pred(k) && out.push(i));
  return Uint32Array.from(out);
}

/** The set and row within it of a global index (rows of all sets counted in order). */
export function locate(sets: FeatureSet[], global: number): { set: number; row: number } {
  let row = global;
  let set = 0;
  while (row >= sets[set]!.rows.length) row -= sets[set++]!.rows.length;
  return { set, row };
}

/** Out-of-fold read-outs for the rows `held`, each the mean of its plain and mirrored views. */
function predictHeld(
  model: tf.LayersModel,
  sets: FeatureSet[],
  held: Uint32Array,
  pLabel: Float32Array,
  predictedAge: Float32Array,
): void {
  const per = sets[0]!.per;
  const chunk = 256;
  for (let at = 0; at < held.length; at += chunk) {
    const part = held.subarray(at, at + chunk);
    const x = new Float32Array(part.length * 2 * per);
    const labels = Array.from(part, (global, j) => {
      const { set, row } = locate(sets, global);
      const s = sets[set]!;
      for (const [k, view] of [PLAIN_VIEW, FLIPPED_VIEW].entries()) {
        const from = (row * s.views + view) * per;
        x.set(s.data.subarray(from, from + per), (j * 2 + k) * per);
      }
      return s.rows[row]!.gender;
    });
    const outs = tf.tidy(() => {
      const [ageLogits, genderLogits] = model.predict(
        tf.tensor(x, [part.length * 2, ...sets[0]!.shape]),
      ) as tf.Tensor2D[];
      return [expectedAge(ageLogits!), maleProbability(genderLogits!)];
    });
    const [age, male] = outs.map((t) => t.dataSync());
    tf.dispose(outs);
    part.forEach((global, j) => {
      const pMale = (male![2 * j]! + male![2 * j + 1]!) / 2;
      pLabel[global] = labels[j] === 1 ? pMale : 1 - pMale;
      predictedAge[global] = (age![2 * j]! + age![2 * j + 1]!) / 2;
    });
  }
}
