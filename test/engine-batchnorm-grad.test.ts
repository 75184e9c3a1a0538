import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { registerFastBatchNormGrad } from '../src/engine/batchnorm-grad.js';

/**
 * The batch-norm gradient override (no `tile`) must give tfjs's own gradients: computed here with the
 * stock gradient first (this file runs in its own process, before anything registers the override),
 * then with ours, for every input of FusedBatchNorm. (Without a scale tfjs cannot take the gradient at
 * all: the kernel saves an undefined input; layers' batch norm always has one.)
 */
test('the fast FusedBatchNorm gradient equals the stock one', async () => {
  await tf.setBackend('cpu');
  const x = tf.randomNormal([3, 5, 4, 6], 0, 2, 'float32', 1);
  const mean = tf.randomNormal([6], 0, 1, 'float32', 2);
  const variance = tf.randomUniform([6], 0.5, 2, 'float32', 3);
  const offset = tf.randomNormal([6], 0, 1, 'float32', 4);
  const scale = tf.randomNormal([6], 1, 0.3, 'float32', 5);
  const dy = tf.randomNormal([3, 5, 4, 6], 0, 1, 'float32', 6);
  const grads = () =>
    tf
      .grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
        tf.batchNorm(a, m, v, o, s, 1e-3),
      )([x, mean, variance, offset, scale], dy)
      .map((g) => g.dataSync());
  const stock = grads();
  const stockConfig = tf.getGradient('FusedBatchNorm');
  registerFastBatchNormGrad();
  assert.notEqual(tf.getGradient('FusedBatchNorm'), stockConfig, 'the override was not registered');
  const ours = grads();
  for (let i = 0; i < 5; i++) {
    assert.equal(stock[i]!.length, ours[i]!.length);
    stock[i]!.forEach((v, j) =>
      assert.ok(
        Math.abs(v - ours[i]![j]!) <= 1e-4 * (1 + Math.abs(v)),
        `input ${i} [${j}]: ${v} vs ${ours[i]![j]}`,
      ),
    );
  }
});
