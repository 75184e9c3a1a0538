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
  /**
   * Batch-normalise the features first. A pretrained backbone's pooled ReLU features sit far from zero
   * with a small spread (dlib's: mean 1.16, std 0.15 per feature); heads trained on them raw learned
   * almost nothing (AAF validation MAE 11.3 after 10 epochs, where a ridge regression reached 6.8).
   */
  normalizeInput?: boolean;
  /**
   * One hidden layer per head instead of a shared one: the age loss (~3 nats) dwarfs the gender loss
   * (~0.15), so a shared hidden layer is shaped almost only by age.
   */
  separateHidden?: boolean;
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
  const norm = opts.normalizeInput ? tf.layers.batchNormalization({ name: `${p}head_norm` }) : null;
  const drop = tf.layers.dropout({ rate: opts.dropout, name: `${p}head_drop` });
  const hiddenLayer = (name: string) =>
    opts.hidden > 0
      ? tf.layers.dense({
          units: opts.hidden,
          activation: 'relu',
          kernelInitializer: tf.initializers.heNormal({ seed: seed++ }),
          name: `${p}${name}`,
        })
      : null;
  const hidden = hiddenLayer('head_hidden');
  const genderHidden = opts.separateHidden ? hiddenLayer('head_hidden_gender') : hidden;
  const hiddenDrop = hidden ? tf.layers.dropout({ rate: opts.dropout, name: `${p}head_hidden_drop` }) : null;
  const genderDrop =
    opts.separateHidden && hidden
      ? tf.layers.dropout({ rate: opts.dropout, name: `${p}head_hidden_gender_drop` })
      : hiddenDrop;
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
    const x = drop.apply(norm ? norm.apply(features) : features) as tf.SymbolicTensor;
    const branch = (h: tf.layers.Layer | null, d: tf.layers.Layer | null) =>
      h && d ? (d.apply(h.apply(x)) as tf.SymbolicTensor) : x;
    const ageIn = branch(hidden, hiddenDrop);
    const genderIn = opts.separateHidden ? branch(genderHidden, genderDrop) : ageIn;
    return [age.apply(ageIn) as tf.SymbolicTensor, gender.apply(genderIn) as tf.SymbolicTensor];
  };
}
