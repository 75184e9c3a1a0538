import * as tf from '@tensorflow/tfjs';
import { AGE_CLASSES, ageTargets, genderTargets, jointLoss } from '../model/losses.js';

/** A batch as the trainers hold it: `ages.length` images of `shape` (e.g. [64, 64, 3]) in `x`. */
export interface StepBatch {
  x: Float32Array;
  shape: readonly number[];
  ages: ArrayLike<number>;
  genders: ArrayLike<number>;
  /** Per row: the weight of its age term (balanced age bands); absent = 1 each. */
  ageWeights?: Float32Array;
}

/**
 * One optimisation step of the joint age/gender loss over every trainable weight; returns the batch's
 * loss. A model whose outputs are several [age, gender] pairs (an ensemble's members, each trained on
 * its own loss) is trained on the mean of the pairs' losses; a plain model has one pair.
 */
export function jointTrainStep(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  batch: StepBatch,
  opts: { ageSigma: number; centredAgeTargets?: boolean },
): number {
  return tf.tidy(() => {
    const n = batch.ages.length;
    const x = tf.tensor(batch.x, [n, ...batch.shape]);
    const ageT = tf.tensor2d(ageTargets(batch.ages, opts.ageSigma, opts.centredAgeTargets), [n, AGE_CLASSES]);
    const genderT = tf.tensor2d(genderTargets(batch.genders), [n, 2]);
    const ageW = batch.ageWeights ? tf.tensor1d(batch.ageWeights) : undefined;
    const loss = optimizer.minimize(
      () => {
        const outs = model.apply(x, { training: true }) as tf.Tensor2D[];
        const losses: tf.Scalar[] = [];
        for (let i = 0; i < outs.length; i += 2)
          losses.push(jointLoss(outs[i]!, outs[i + 1]!, ageT, genderT, ageW));
        return losses.length === 1 ? losses[0]! : (tf.div(tf.addN(losses), losses.length) as tf.Scalar);
      },
      true,
      model.trainableWeights.map((w) => w.read() as tf.Variable),
    )!;
    return loss.dataSync()[0]!;
  });
}
