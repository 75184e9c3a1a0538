import * as tf from '@tensorflow/tfjs';
import { AGE_CLASSES } from './losses.js';

/** Gender head outputs: index 1 = male, as the seed's CSV (preprocess.json genderLabels). */
export const GENDER_CLASSES = 2;

export interface HeadOptions {
  /** Units of a shared hidden ReLU layer before the two heads (0 = linear heads on the features). */
  hidden: number;
  dropout: number;
  seed?: number;
  /** Layer name prefix, so two sets of heads can live in one process (the two output layers keep theirs). */
  prefix?: string;
  /** Prefix of the two output layers too ('age', 'gender'): members of an ensemble. */
  outputPrefix?: string;
  /**
   * Batch-normalise the features first. A pretrained backbone's pooled ReLU features sit far from zero
   * with a small spread (dlib's: mean 1.16, std 0.15 per feature); heads trained on them raw learned
   * almost nothing (AAF validation MAE 11.3 after 10 epochs, where a ridge regression reached 6.8).
   */
  normalizeInput?: boolean;
}

/**
 * The two task heads on a feature vector: `age` (AGE_CLASSES logits, class i = age i) and `gender`
 * (GENDER_CLASSES logits). Returns a function that applies the same layer objects to any features, so the
 * heads trained on cached backbone features are the ones the exported image model ends in.
 */
export function ageGenderHeads(opts: HeadOptions): HeadsFn {
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
  const hiddenDrop = hidden ? tf.layers.dropout({ rate: opts.dropout, name: `${p}head_hidden_drop` }) : null;
  const age = tf.layers.dense({
    units: AGE_CLASSES,
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
    name: `${opts.outputPrefix ?? ''}age`,
  });
  const gender = tf.layers.dense({
    units: GENDER_CLASSES,
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
    name: `${opts.outputPrefix ?? ''}gender`,
  });
  return (features) => {
    const x = drop.apply(norm ? norm.apply(features) : features) as tf.SymbolicTensor;
    const h = hidden && hiddenDrop ? (hiddenDrop.apply(hidden.apply(x)) as tf.SymbolicTensor) : x;
    return [age.apply(h) as tf.SymbolicTensor, gender.apply(h) as tf.SymbolicTensor];
  };
}

/** Heads as a function from features to [age logits, gender logits]. */
export type HeadsFn = (features: tf.SymbolicTensor) => [tf.SymbolicTensor, tf.SymbolicTensor];

/**
 * `members` independently initialised sets of heads on the same features. Each member trains on its own
 * loss (`each`); the served answer (`averaged`) is the mean of their logits, in layers named 'age' and
 * 'gender' as a single set's, so a predictor cannot tell the difference. Averaging a few heads trained
 * from different starting points smooths out what each one learned by chance: on cached features it
 * costs almost nothing to train, and almost nothing at predict time next to the backbone.
 */
export function headEnsemble(
  opts: HeadOptions,
  members: number,
): {
  each: (features: tf.SymbolicTensor) => Array<[tf.SymbolicTensor, tf.SymbolicTensor]>;
  averaged: HeadsFn;
} {
  if (members <= 1) {
    const heads = ageGenderHeads(opts);
    return { each: (f) => [heads(f)], averaged: heads };
  }
  const sets = Array.from({ length: members }, (_, i) =>
    ageGenderHeads({ ...opts, seed: (opts.seed ?? 1) + 1000 * i, prefix: `m${i}_`, outputPrefix: `m${i}_` }),
  );
  const age = tf.layers.average({ name: 'age' });
  const gender = tf.layers.average({ name: 'gender' });
  return {
    each: (f) => sets.map((h) => h(f)),
    averaged: (f) => {
      const outs = sets.map((h) => h(f));
      return [
        age.apply(outs.map((o) => o[0])) as tf.SymbolicTensor,
        gender.apply(outs.map((o) => o[1])) as tf.SymbolicTensor,
      ];
    },
  };
}
