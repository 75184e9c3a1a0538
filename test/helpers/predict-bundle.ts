import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveLayersModelToDir } from '../../src/engine/model-io.js';
import { defaultPreprocessSpec, type PreprocessSpec } from '../../src/data/preprocess-spec.js';

/**
 * A small untrained serving bundle (same contract as a real one: one [N, S, S, 3] input, outputs `age`
 * (101 logits) then `gender` (2 logits), preprocess.json, metrics.json) for predict tests that must not
 * depend on the real default model. Weights come from a fixed seed so answers are reproducible.
 */
export async function writeTestBundle(
  dir: string,
  opts: { imageSize?: number; faceCrop?: PreprocessSpec['faceCrop'] } = {},
): Promise<string> {
  const size = opts.imageSize ?? 64;
  const input = tf.input({ shape: [size, size, 3], name: 'image' });
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  let x = tf.layers
    .conv2d({ filters: 8, kernelSize: 5, strides: 4, activation: 'relu', kernelInitializer: init(1) })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const age = tf.layers
    .dense({ units: 101, name: 'age', kernelInitializer: init(2) })
    .apply(x) as tf.SymbolicTensor;
  const gender = tf.layers
    .dense({ units: 2, name: 'gender', kernelInitializer: init(3) })
    .apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: [age, gender] });
  const spec = { ...defaultPreprocessSpec(size), faceCrop: opts.faceCrop ?? null };
  await saveLayersModelToDir(model, dir, {
    extraFiles: {
      'preprocess.json': JSON.stringify(spec, null, 2),
      'metrics.json': JSON.stringify({ note: 'untrained test bundle' }),
    },
  });
  model.dispose();
  return path.resolve(dir);
}
