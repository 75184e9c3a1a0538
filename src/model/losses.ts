import * as tf from '@tensorflow/tfjs';
import { AGE_CLASSES } from '../data/preprocess-spec.js';

export { AGE_CLASSES };

/**
 * Targets for the age head, [N * 101] row-major. With `sigma` 0: one-hot on the true age (DEX, the
 * seed). With `sigma` > 0: a discretised Gaussian around the true age (label-distribution learning),
 * which tells the network that 30 is a better guess than 60 for a 31-year-old and lowers the MAE of
 * the expectation read-out; the loss stays a softmax cross-entropy.
 *
 * `centred`: near the ends of the range the Gaussian is cut at 0 and 100 and renormalised, so its mean
 * lies above the true age for babies (1.9 for age 1 at sigma 2) and below it for the very old, and
 * the expectation read-out learns that pull. Centred targets move the Gaussian's centre (outward)
 * until the cut distribution's mean is the true age.
 */
export function ageTargets(ages: ArrayLike<number>, sigma = 0, centred = false): Float32Array {
  const out = new Float32Array(ages.length * AGE_CLASSES);
  const table = sigma > 0 ? targetTable(sigma, centred) : null;
  for (let i = 0; i < ages.length; i++) {
    const a = ages[i]!;
    if (table) out.set(table.subarray(a * AGE_CLASSES, (a + 1) * AGE_CLASSES), i * AGE_CLASSES);
    else out[i * AGE_CLASSES + a] = 1;
  }
  return out;
}

/** The Gaussian centred on `centre`, cut to 0..100 and renormalised, into `row`; returns its mean. */
function cutGaussian(centre: number, sigma: number, row: Float32Array): number {
  let sum = 0;
  for (let c = 0; c < AGE_CLASSES; c++) {
    const v = Math.exp(-((c - centre) ** 2) / (2 * sigma * sigma));
    row[c] = v;
    sum += v;
  }
  let mean = 0;
  for (let c = 0; c < AGE_CLASSES; c++) {
    row[c]! /= sum;
    mean += row[c]! * c;
  }
  return mean;
}

const tables = new Map<string, Float32Array>();

/** Row a of the table: the target of true age a (computed once per sigma and kind). */
function targetTable(sigma: number, centred: boolean): Float32Array {
  const key = `${sigma}/${centred}`;
  let table = tables.get(key);
  if (table) return table;
  table = new Float32Array(AGE_CLASSES * AGE_CLASSES);
  for (let a = 0; a < AGE_CLASSES; a++) {
    const row = table.subarray(a * AGE_CLASSES, (a + 1) * AGE_CLASSES);
    if (!centred) {
      cutGaussian(a, sigma, row);
      continue;
    }
    // The cut mean rises with the centre: bisect for the centre whose cut mean is a (at 0 and 100
    // only reached in the limit, where the target tends to one-hot).
    let lo = a - 10 * sigma;
    let hi = a + 10 * sigma;
    for (let k = 0; k < 60; k++) {
      const mid = (lo + hi) / 2;
      if (cutGaussian(mid, sigma, row) < a) lo = mid;
      else hi = mid;
    }
    cutGaussian((lo + hi) / 2, sigma, row);
  }
  tables.set(key, table);
  return table;
}

/** One-hot gender targets [N * 2] (index 1 = male), optionally label-smoothed. */
export function genderTargets(genders: ArrayLike<number>, smoothing = 0): Float32Array {
  const out = new Float32Array(genders.length * 2);
  for (let i = 0; i < genders.length; i++) {
    out[i * 2] = smoothing / 2;
    out[i * 2 + 1] = smoothing / 2;
    out[i * 2 + genders[i]!]! += 1 - smoothing;
  }
  return out;
}

/**
 * Mean over the batch of the softmax cross-entropy between (soft) targets and logits; with `weights`
 * ([N], mean about 1), each row's term is weighted (the batch mean of w_i * CE_i).
 */
export function softmaxCrossEntropy(
  targets: tf.Tensor2D,
  logits: tf.Tensor2D,
  weights?: tf.Tensor1D,
): tf.Scalar {
  return tf.tidy(() => {
    const perRow = tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1));
    return tf.mean(weights ? tf.mul(perRow, weights) : perRow) as tf.Scalar;
  });
}

/**
 * The seed's joint loss: the mean of the age head's and the gender head's cross-entropies. (Weighting the
 * gender term, some 20 times smaller than the age term, did not raise gender accuracy: see the model card.)
 * `ageWeights` weight the rows' age terms only (balanced age bands, train/age-bands.ts).
 */
export function jointLoss(
  ageLogits: tf.Tensor2D,
  genderLogits: tf.Tensor2D,
  ageTarget: tf.Tensor2D,
  genderTarget: tf.Tensor2D,
  ageWeights?: tf.Tensor1D,
): tf.Scalar {
  return tf.tidy(() => {
    const gender = softmaxCrossEntropy(genderTarget, genderLogits);
    return tf.div(tf.add(softmaxCrossEntropy(ageTarget, ageLogits, ageWeights), gender), 2) as tf.Scalar;
  });
}
