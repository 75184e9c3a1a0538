import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend.js';
import { loadLayersModelFromDir, saveLayersModelToDir } from '../src/engine/model-io.js';
import { inferenceLoadFallbacks, loadInferenceModel } from '../src/infer/inference-model.js';
import { defaultModelDir } from '../src/infer/predictor.js';
import { tempDir } from './helpers/fixtures.js';
import { writeTestBundle } from './helpers/predict-bundle.js';

// The predictor's loader (src/infer/inference-model.ts) builds each layer from its saved weight instead
// of tfjs's zeros-then-overwrite: the weights and the answers must be tfjs's loader's, bit for bit.

async function sameModel(a: tf.LayersModel, b: tf.LayersModel, size: number): Promise<void> {
  assert.equal(inferenceLoadFallbacks(), 0, 'the saved weights were placed, not loaded by tfjs');
  assert.equal(a.weights.length, b.weights.length);
  a.weights.forEach((w, i) => {
    assert.deepEqual(w.shape, b.weights[i]!.shape);
    assert.deepEqual(w.read().dataSync(), b.weights[i]!.read().dataSync(), w.name);
  });
  const x = tf.randomUniform([2, size, size, 3], -1, 1, 'float32', 7);
  const ya = a.predict(x) as tf.Tensor[];
  const yb = b.predict(x) as tf.Tensor[];
  ya.forEach((y, i) => assert.deepEqual(y.dataSync(), yb[i]!.dataSync()));
  tf.dispose([x, ...ya, ...yb]);
}

test('a float32 bundle and its float16 copy load with the weights and answers of tfjs', async () => {
  await initBackend({ backend: 'wasm', threads: 1, quiet: true });
  const { dir, cleanup } = await tempDir('agegender-inference-model-');
  try {
    const f32 = await writeTestBundle(path.join(dir, 'f32'), { imageSize: 32 });
    const plain = await loadLayersModelFromDir(f32);
    await saveLayersModelToDir(plain, path.join(dir, 'f16'), { weights: 'float16' });
    for (const bundle of [f32, path.join(dir, 'f16')]) {
      const [ours, theirs] = [
        await loadInferenceModel(bundle),
        await loadLayersModelFromDir(bundle, { inference: true }),
      ];
      await sameModel(ours, theirs, 32);
      ours.dispose();
      theirs.dispose();
    }
    plain.dispose();
  } finally {
    await cleanup();
  }
});

test(
  'the default model loads with the weights and answers of tfjs',
  { skip: existsSync(path.join(defaultModelDir(), 'model.json')) ? false : 'no default model' },
  async () => {
    await initBackend({ backend: 'wasm', threads: 1, quiet: true });
    const [ours, theirs] = [
      await loadInferenceModel(defaultModelDir()),
      await loadLayersModelFromDir(defaultModelDir(), { inference: true }),
    ];
    await sameModel(ours, theirs, ours.inputs[0]!.shape[1]!);
    ours.dispose();
    theirs.dispose();
  },
);
