import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend.js';
import { BN_TRAIN, BN_TRAIN_GRAD, batchNormTrain } from '../src/engine/batchnorm-train.js';
import { dnnlCallCounts, dnnlLibrary } from '../src/engine/dnnl/index.js';

const noDnnl = (() => {
  const lib = dnnlLibrary();
  return 'reason' in lib ? `oneDNN unavailable: ${lib.reason}` : false;
})();

/**
 * The fused batch-norm training kernels against tfjs's own composition (tf.moments, then tf.batchNorm,
 * and their autodiff gradients: what tfjs-layers runs), on the cpu backend and on wasm; then the layer
 * routed through them, moving averages included.
 */

const EPS = 1e-3;

function close(name: string, want: ArrayLike<number>, got: ArrayLike<number>, tol = 2e-4): void {
  assert.equal(got.length, want.length, name);
  for (let i = 0; i < want.length; i++) {
    assert.ok(
      Math.abs(want[i]! - got[i]!) <= tol * (1 + Math.abs(want[i]!)),
      `${name}[${i}]: ${want[i]} (tfjs) vs ${got[i]} (fused)`,
    );
  }
}

/** y, batch mean, batch variance and the gradients of sum(y * w) with respect to x, gamma and beta. */
function figures(
  normalize: (x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D) => [tf.Tensor, tf.Tensor, tf.Tensor],
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  w: tf.Tensor,
): Float32Array[] {
  return tf.tidy(() => {
    const [y, mean, variance] = normalize(x, gamma, beta);
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(normalize(a, g as tf.Tensor1D, b as tf.Tensor1D)[0], w)),
    )([x, gamma, beta]);
    return [y, mean, variance, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

const stock = (x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D): [tf.Tensor, tf.Tensor, tf.Tensor] => {
  const axes = x.shape.map((_, i) => i).slice(0, -1);
  const { mean, variance } = tf.moments(x, axes);
  return [tf.batchNorm(x, mean, variance, b, g, EPS), mean, variance];
};
const fused = (x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D) => batchNormTrain(x, g, b, EPS);

describe('fused batch-norm training kernels', () => {
  for (const backend of ['cpu', 'wasm', 'wasm+dnnl'] as const) {
    const skip = backend === 'wasm+dnnl' && noDnnl;
    test(
      `${backend}: forward, batch statistics and gradients equal tfjs's composition`,
      { skip },
      async () => {
        await initBackend({ backend, threads: backend === 'wasm+dnnl' ? 2 : 1, quiet: true });
        const before = dnnlCallCounts();
        // The first is past oneDNN's minimum size for element-wise kernels (16,384 values).
        for (const shape of [
          [16, 12, 12, 9],
          [6, 5, 4, 7],
          [16, 9],
        ]) {
          const c = shape.at(-1)!;
          const x = tf.randomNormal(shape, 3, 2, 'float32', 1);
          const gamma = tf.randomNormal([c], 1, 0.5, 'float32', 2) as tf.Tensor1D;
          const beta = tf.randomNormal([c], 0, 1, 'float32', 3) as tf.Tensor1D;
          const w = tf.randomNormal(shape, 0, 1, 'float32', 4);
          const want = figures(stock, x, gamma, beta, w);
          const got = figures(fused, x, gamma, beta, w);
          ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'].forEach((name, i) =>
            close(`${backend} ${shape} ${name}`, want[i]!, got[i]!),
          );
          tf.dispose([x, gamma, beta, w]);
        }
        if (backend === 'wasm+dnnl') {
          // The 4-D case ran on oneDNN (the 2-D one, like a small tensor, on the kernels in JS).
          const after = dnnlCallCounts();
          for (const name of [BN_TRAIN, BN_TRAIN_GRAD])
            assert.ok((after[name]?.dnnl ?? 0) > (before[name]?.dnnl ?? 0), `${name} did not run on oneDNN`);
        }
      },
    );
  }

  test('the variance stays exact when the mean is large next to the spread', async () => {
    await initBackend({ backend: 'wasm', threads: 1, quiet: true });
    // Values 1000 +- 0.01: a one-pass E[x^2] - E[x]^2 in float32 would lose the variance entirely.
    const values = Float32Array.from({ length: 64 * 3 }, (_, i) => 1000 + (i % 2 ? 0.01 : -0.01));
    const [, mean, variance] = batchNormTrain(
      tf.tensor2d(values, [64, 3]),
      tf.ones([3]) as tf.Tensor1D,
      tf.zeros([3]) as tf.Tensor1D,
      EPS,
    );
    close('mean', [1000, 1000, 1000], mean.dataSync());
    // float32 holds 1000.01 as 1000.0100098: the spread is 0.0100098, its square ~1.002e-4.
    for (const v of variance.dataSync()) assert.ok(Math.abs(v - 1.002e-4) < 1e-6, `variance ${v}`);
  });

  test('a BatchNormalization layer in training runs the fused kernel and keeps its moving averages', async () => {
    await initBackend({ backend: 'wasm', threads: 1, quiet: true });
    const layer = tf.layers.batchNormalization({ momentum: 0.9, epsilon: EPS });
    const x = tf.randomNormal([8, 6, 6, 5], 2, 3, 'float32', 7);
    layer.build(x.shape);
    const profile = await tf.profile(() => layer.apply(x, { training: true }) as tf.Tensor);
    assert.ok(profile.kernelNames.includes(BN_TRAIN), `kernels run: ${profile.kernelNames.join(', ')}`);
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const [, , movingMean, movingVariance] = layer.getWeights();
    // From their initial 0 and 1: moving = 0.9 * moving + 0.1 * batch.
    close('moving mean', tf.mul(mean, 0.1).dataSync(), movingMean!.dataSync());
    close('moving variance', tf.add(tf.mul(variance, 0.1), 0.9).dataSync(), movingVariance!.dataSync());
    // Inference is the layer's own code, on the moving statistics.
    const inferred = await tf.profile(() => layer.apply(x, { training: false }) as tf.Tensor);
    assert.ok(!inferred.kernelNames.includes(BN_TRAIN));
  });
});
