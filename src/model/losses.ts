import * as tf from '@tensorflow/tfjs';
import { AGE_CLASSES } from '../data/preprocess-spec.js';

export { AGE_CLASSES };

/**
 * Targets for the age head, [N * 101] row-major. With `sigma` 0: one-hot on the true age (DEX, the
 * seed). With `sigma` > 0: a discretised Gaussian centred on the true age (label-distribution learning),
 * which tells the network that 30 is a better guess than 60 for a 31-year-old and lowers the MAE of
 * the expectation read-out; the loss stays a softmax cross-entropy.
 */
export function ageTargets(ages: ArrayLike<number>, sigma = 0): Float32Array {
  const out = new Float32Array(ages.length * AGE_CLASSES);
  for (let i = 0; i < ages.length; i++) {
    const a = ages[i]!;
    const row = i * AGE_CLASSES;
    if (!(sigma > 0)) {
      out[row + a] = 1;
      continue;
    }
    let sum = 0;
    for (let c = 0; c < AGE_CLASSES; c++) {
      const v = Math.exp(-((c - a) ** 2) / (2 * sigma * sigma));
      out[row + c] = v;
      sum += v;
    }
    for (let c = 0; c < AGE_CLASSES; c++) out[row + c]! /= sum;
  }
  return out;
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

/** Mean over the batch of the softmax cross-entropy between (soft) targets and logits. */
export function softmaxCrossEntropy(targets: tf.Tensor2D, logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))) as tf.Scalar);
}

/**
 * The seed's joint loss: the mean of the age head's and the gender head's cross-entropies. (Weighting the
 * gender term, some 20 times smaller than the age term, did not raise gender accuracy: see the model card.)
 */
export function jointLoss(
  ageLogits: tf.Tensor2D,
  genderLogits: tf.Tensor2D,
  ageTarget: tf.Tensor2D,
  genderTarget: tf.Tensor2D,
): tf.Scalar {
  return tf.tidy(() => {
    const gender = softmaxCrossEntropy(genderTarget, genderLogits);
    return tf.div(tf.add(softmaxCrossEntropy(ageTarget, ageLogits), gender), 2) as tf.Scalar;
  });
}
