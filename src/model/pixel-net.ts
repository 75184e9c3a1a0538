import * as tf from '@tensorflow/tfjs';
import { GENDER_CLASSES } from './heads.js';
import { AGE_CLASSES } from './losses.js';

/**
 * The pixel branch: a small CNN (0.3M parameters) trained from scratch on the backbone's own input image,
 * beside the frozen face-recognition backbone, whose gender logits are mixed into the served answer.
 *
 * Why: the dlib backbone was trained to tell identities apart, so its features carry little of what gives
 * away a small child's gender (hair length and bows, clothing colour at the crop's edges): on UTKFace, heads
 * on those features get 97.6% of adults' genders right but 75% of children's (ages 0-9). A net that sees the
 * raw pixels learns those cues; alone it is weaker (about 92% overall), but mixed in at a fifth of the weight
 * it corrected children's answers on one fold of a cross-validation probe. Added to the default model it left
 * UTKFace test gender where it was (94.8%), so the default has none (MODEL_CARD.md, "Pixel branch").
 *
 * Shape: the image average-pooled 2x (150 -> 75 px: the cues are coarse), then four blocks of two 3x3 conv +
 * batch norm + ReLU and a 2x2 max-pool (16/32/64/128 filters; 75 -> 4 px), global average pooling, dropout,
 * and the two logit heads. Its age head only helps it train (a joint loss); the served age stays the
 * backbone heads' (the branch's is about a year worse).
 */
export interface PixelNetOptions {
  seed?: number;
  dropout?: number;
}

/** Layer name prefix of every layer of the branch, so it can live in one model beside the backbone. */
export const PIXEL_PREFIX = 'pixel_';

/** The branch as a function from the (normalised) image to [age logits, gender logits]. */
export type PixelNetFn = (image: tf.SymbolicTensor) => [tf.SymbolicTensor, tf.SymbolicTensor];

/**
 * Builds the branch's layers once and returns a function that applies those same layer objects to an
 * image tensor: once for the model it trains in, once more for the served model it joins.
 */
export function pixelNet(opts: PixelNetOptions = {}): PixelNetFn {
  let seed = opts.seed ?? 1;
  const p = PIXEL_PREFIX;
  const layers: tf.layers.Layer[] = [
    tf.layers.averagePooling2d({ poolSize: 2, strides: 2, name: `${p}down` }),
  ];
  [16, 32, 64, 128].forEach((filters, b) => {
    for (let c = 1; c <= 2; c++) {
      const name = `${p}b${b + 1}_c${c}`;
      layers.push(
        tf.layers.conv2d({
          filters,
          kernelSize: 3,
          padding: 'same',
          useBias: false,
          kernelInitializer: tf.initializers.heNormal({ seed: seed++ }),
          name,
        }),
        // Without batch norm the branch scored 90.0% gender (62% for children) against 92.3% (70%) in the
        // same probe, and mixing it in hurt. (Its training cost is small since engine/batchnorm-train.ts.)
        tf.layers.batchNormalization({ name: `${name}_bn` }),
        tf.layers.reLU({ name: `${name}_relu` }),
      );
    }
    layers.push(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `${p}b${b + 1}_pool` }));
  });
  layers.push(
    tf.layers.globalAveragePooling2d({ name: `${p}gap` }),
    tf.layers.dropout({ rate: opts.dropout ?? 0.3, name: `${p}drop` }),
  );
  const age = tf.layers.dense({
    units: AGE_CLASSES,
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
    name: `${p}age`,
  });
  const gender = tf.layers.dense({
    units: GENDER_CLASSES,
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
    name: `${p}gender`,
  });
  return (image) => {
    const x = layers.reduce((t, l) => l.apply(t) as tf.SymbolicTensor, image);
    return [age.apply(x) as tf.SymbolicTensor, gender.apply(x) as tf.SymbolicTensor];
  };
}

/**
 * The served model with the branch joined: same input, same age output, and as gender output the logits
 * (1 - mix) x the model's own + mix x the branch's, in one fixed (untrained) dense layer, so the bundle stays
 * an ordinary layers model that any tfjs loader, the browser's included, runs as is. The output is named
 * `gender_mixed` (the model's own `gender` layer stays inside it); readers take (age, gender) in output
 * order, as they do for every bundle.
 */
export function withPixelBranch(model: tf.LayersModel, branch: PixelNetFn, mix: number): tf.LayersModel {
  if (!(mix >= 0 && mix <= 1)) throw new RangeError(`pixel branch mix ${mix}: expected 0..1`);
  const image = model.inputs[0]!;
  const [age, gender] = model.outputs as tf.SymbolicTensor[];
  const [, pixelGender] = branch(image);
  const both = tf.layers.concatenate({ name: `${PIXEL_PREFIX}mix_in` }).apply([gender!, pixelGender]);
  // Row i of the kernel is input logit i: the model's [female, male], then the branch's.
  const kernel = tf.tensor2d([
    [1 - mix, 0],
    [0, 1 - mix],
    [mix, 0],
    [0, mix],
  ]);
  const mixed = tf.layers.dense({
    units: GENDER_CLASSES,
    useBias: false,
    trainable: false,
    weights: [kernel],
    name: 'gender_mixed',
  });
  const out = mixed.apply(both) as tf.SymbolicTensor;
  kernel.dispose();
  return tf.model({ inputs: model.inputs, outputs: [age!, out], name: `${model.name}_pixel` });
}
