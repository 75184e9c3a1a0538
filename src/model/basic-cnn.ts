import * as tf from '@tensorflow/tfjs';
import { GENDER_CLASSES } from './heads.js';
import { AGE_CLASSES } from './losses.js';

/**
 * The seed tutorial's network, layer for layer: three 5x5 'same' conv blocks (32/64/128 filters, ReLU,
 * 2x2 max-pool, dropout 0.2/0.4/0.7), flatten, dense 1024 ReLU, dropout 0.4, and two logit heads.
 * Its flatten grows with the square of the input side (100,352 wide at 224x224), which is why the
 * trainer checks memory before building it.
 */
export function buildBasicCnn(opts: { imageSize: number; seed?: number }): tf.LayersModel {
  const seed = opts.seed ?? 1;
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed + k });
  const input = tf.input({ shape: [opts.imageSize, opts.imageSize, 3], name: 'image' });
  let x: tf.SymbolicTensor = input;
  const blocks: [number, number][] = [
    [32, 0.2],
    [64, 0.4],
    [128, 0.7],
  ];
  blocks.forEach(([filters, rate], i) => {
    x = tf.layers
      .conv2d({
        filters,
        kernelSize: 5,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(i),
        name: `conv${i + 1}`,
      })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .maxPooling2d({ poolSize: 2, strides: 2, name: `pool${i + 1}` })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.dropout({ rate, name: `drop${i + 1}` }).apply(x) as tf.SymbolicTensor;
  });
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .dense({ units: 1024, activation: 'relu', kernelInitializer: init(3), name: 'fc' })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ rate: 0.4, name: 'fc_drop' }).apply(x) as tf.SymbolicTensor;
  const age = tf.layers
    .dense({ units: AGE_CLASSES, kernelInitializer: init(4), name: 'age' })
    .apply(x) as tf.SymbolicTensor;
  const gender = tf.layers
    .dense({ units: GENDER_CLASSES, kernelInitializer: init(5), name: 'gender' })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [age, gender], name: 'basic_cnn' });
}
