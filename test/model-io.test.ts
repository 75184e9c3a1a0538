import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadLayersModelFromDir, saveLayersModelToDir } from '../src/engine/model-io.js';
import { tempDir } from './helpers/fixtures.js';

test('a layers model saved to a directory reloads with identical outputs and sidecar files', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const input = tf.input({ shape: [4] });
    const hidden = tf.layers.dense({ units: 3, activation: 'relu' }).apply(input) as tf.SymbolicTensor;
    const a = tf.layers.dense({ units: 2, name: 'age' }).apply(hidden) as tf.SymbolicTensor;
    const g = tf.layers.dense({ units: 2, name: 'gender' }).apply(hidden) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [a, g] });
    const target = path.join(dir, 'bundle');
    await saveLayersModelToDir(model, target, { extraFiles: { 'preprocess.json': '{"x":1}' } });
    assert.deepEqual((await fs.readdir(target)).sort(), ['model.json', 'preprocess.json', 'weights.bin']);
    const back = await loadLayersModelFromDir(target);
    const x = tf.tensor2d([[1, -2, 3, 0.5]]);
    const [a1, g1] = model.predict(x) as tf.Tensor[];
    const [a2, g2] = back.predict(x) as tf.Tensor[];
    assert.deepEqual(await a1!.data(), await a2!.data());
    assert.deepEqual(await g1!.data(), await g2!.data());
    assert.deepEqual(back.outputNames, ['age', 'gender']);
  } finally {
    await cleanup();
  }
});

test('loading a directory without model.json is a one-line error naming the file', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await assert.rejects(loadLayersModelFromDir(dir), (err: Error) => {
      assert.match(err.message, /model\.json: cannot read model/);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  } finally {
    await cleanup();
  }
});
