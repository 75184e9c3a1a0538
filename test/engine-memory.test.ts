import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createAdam } from '../src/engine/adam.js';
import { initBackend } from '../src/engine/backend.js';
import { WASM_HEAP_LIMIT_BYTES, assertFitsBackend, estimateTrainingMemory } from '../src/engine/memory.js';
import { UserError } from '../src/util/errors.js';

/** The seed tutorial's network shape: 3 x (conv 5x5 + pool), flatten, dense 1024, two heads. */
function seedLikeNet(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  let h: tf.SymbolicTensor = input;
  for (const filters of [32, 64, 128]) {
    h = tf.layers
      .conv2d({ filters, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: 'zeros' })
      .apply(h) as tf.SymbolicTensor;
    h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
  }
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  h = tf.layers
    .dense({ units: 1024, activation: 'relu', kernelInitializer: 'zeros' })
    .apply(h) as tf.SymbolicTensor;
  const age = tf.layers
    .dense({ units: 101, kernelInitializer: 'glorotUniform' })
    .apply(h) as tf.SymbolicTensor;
  const gender = tf.layers
    .dense({ units: 2, kernelInitializer: 'glorotUniform' })
    .apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [age, gender], name: 'seed_like' });
}

test('the estimate matches the measured wasm heap of real training steps', async () => {
  // First in this file: node runs each test file in a fresh process, so the heap is this test's alone.
  await initBackend({ backend: 'wasm', threads: 1, quiet: true });
  const heapBytes = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  const batch = 16;
  const model = seedLikeNet(64);
  const opt = tf.train.adam(1e-3);
  const x = tf.randomNormal([batch, 64, 64, 3]);
  const ya = tf.oneHot(tf.zeros([batch], 'int32'), 101);
  const yg = tf.oneHot(tf.ones([batch], 'int32'), 2);
  for (let i = 0; i < 2; i++) {
    tf.tidy(() => {
      opt.minimize(() => {
        const [a, g] = model.apply(x, { training: true }) as tf.Tensor[];
        return tf.add(
          tf.losses.softmaxCrossEntropy(ya, a!),
          tf.losses.softmaxCrossEntropy(yg, g!),
        ) as tf.Scalar;
      });
    });
  }
  const measured = heapBytes();
  const { bytes } = estimateTrainingMemory(model, batch);
  // The heap grows in steps of up to 20% over what was asked, so its size overstates the true peak.
  assert.ok(measured <= 1.15 * bytes, `measured heap ${measured} well above the estimate ${bytes}`);
  assert.ok(measured >= 0.7 * bytes, `estimate ${bytes} far above the measured heap ${measured}`);
  tf.dispose([x, ya, yg]);
  opt.dispose();
  model.dispose();
});

test('the seed network at 224x224 is refused on wasm with a one-line hint; at 64x64 it passes', () => {
  const big = seedLikeNet(224);
  try {
    assert.ok(big.countParams() > 100e6);
    assert.throws(
      () => assertFitsBackend(big, 'wasm', 32),
      (err: unknown) =>
        err instanceof UserError &&
        !err.message.includes('\n') &&
        /224x224/.test(err.message) &&
        /--img-size/.test(err.message) &&
        /--arch/.test(err.message) &&
        /tensorflow/.test(err.message),
    );
    // The options form the trainer uses, and the active backend by default.
    assert.throws(() => assertFitsBackend(big, { batchSize: 32, imageSize: 224 }), UserError);
  } finally {
    big.dispose();
  }
  const small = seedLikeNet(64);
  const est = assertFitsBackend(small, 'wasm', 32);
  assert.ok(est.bytes < WASM_HEAP_LIMIT_BYTES / 2);
  assert.equal(est.parameters, small.countParams());
  small.dispose();
});

test('with the fused Adam the estimate drops and the seed network fits at 160x160 but not 224x224', () => {
  const m160 = seedLikeNet(160);
  const fused = createAdam(1e-3);
  try {
    assert.throws(() => assertFitsBackend(m160, 'wasm', 32), UserError);
    const est = assertFitsBackend(m160, { batchSize: 32, backendName: 'wasm', optimizer: fused });
    assert.ok(est.bytes < estimateTrainingMemory(m160, 32).bytes * 0.6);
    const stock = tf.train.adam(1e-3);
    assert.equal(estimateTrainingMemory(m160, 32, stock).bytes, estimateTrainingMemory(m160, 32).bytes);
    stock.dispose();
  } finally {
    m160.dispose();
  }
  const m224 = seedLikeNet(224);
  try {
    assert.throws(() => assertFitsBackend(m224, 'wasm', 32, fused), UserError);
  } finally {
    m224.dispose();
    fused.dispose();
  }
});
