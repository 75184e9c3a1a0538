import * as tf from '@tensorflow/tfjs';
import { AGE_CLASSES } from './losses.js';

/** Gender head outputs: index 1 = male, as the seed's CSV (preprocess.json genderLabels). */
export const GENDER_CLASSES = 2;

export interface HeadOptions {
  /** Units of a shared hidden ReLU layer before the two heads (0 = linear heads on the features). */
  hidden: number;
  dropout: number;
  seed?: number;
  /** Layer name prefix, so two sets of heads can live in one process. */
  prefix?: string;
}

/**
 * The two task heads on a feature vector: `age` (AGE_CLASSES logits, class i = age i) and `gender`
 * (GENDER_CLASSES logits). Returns a function that applies the same layer objects to any features, so the
 * heads trained on cached backbone features are the ones the exported image model ends in.
 */
export function ageGenderHeads(
  opts: HeadOptions,
): (features: tf.SymbolicTensor) => [tf.SymbolicTensor, tf.SymbolicTensor] {
  let seed = opts.seed ?? 1;
  const p = opts.prefix ?? '';
  const drop = tf.layers.dropout({ rate: opts.dropout, name: `${p}head_drop` });
  const hidden =
    opts.hidden > 0
      ? tf.layers.dense({
          units: opts.hidden,
          activation: 'relu',
          kernelInitializer: tf.initializers.heNormal({ seed: seed++ }),
          name: `${p}head_hidden`,
        })
      : null;
  const hiddenDrop = hidden ? tf.layers.dropout({ rate: opts.dropout, name: `${p}head_hidden_drop` }) : null;
  const age = tf.layers.dense({
    units: AGE_CLASSES,
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
    name: 'age',
  });
  const gender = tf.layers.dense({
    units: GENDER_CLASSES,
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
    name: 'gender',
  });
  return (features) => {
    let x = drop.apply(features) as tf.SymbolicTensor;
    if (hidden && hiddenDrop) x = hiddenDrop.apply(hidden.apply(x)) as tf.SymbolicTensor;
    return [age.apply(x) as tf.SymbolicTensor, gender.apply(x) as tf.SymbolicTensor];
  };
}
