/**
 * Child process of test/engine-threads.test.ts: starts the engine with AGEGENDER_THREADS from the
 * environment, runs a few training steps of a small conv net on fixed data, and prints one JSON line
 * with the thread count, the busy pthread workers, the losses and a hash of the resulting weights.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { busyWasmWorkers } from '../../src/engine/wasm-threads.js';

const info = await initBackend({ backend: 'wasm', quiet: true });
const input = tf.input({ shape: [24, 24, 3] });
let h = tf.layers
  .conv2d({
    filters: 16,
    kernelSize: 5,
    padding: 'same',
    activation: 'relu',
    kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
  })
  .apply(input) as tf.SymbolicTensor;
h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
h = tf.layers
  .conv2d({
    filters: 32,
    kernelSize: 3,
    strides: 2,
    padding: 'same',
    activation: 'relu',
    kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
  })
  .apply(h) as tf.SymbolicTensor;
h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
h = tf.layers
  .dense({ units: 64, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })
  .apply(h) as tf.SymbolicTensor;
const out = tf.layers
  .dense({ units: 7, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) })
  .apply(h) as tf.SymbolicTensor;
const model = tf.model({ inputs: input, outputs: out });
const x = tf.randomUniform([16, 24, 24, 3], -1, 1, 'float32', 5);
const y = tf.oneHot(tf.randomUniform([16], 0, 7, 'int32', 6), 7);
const opt = tf.train.adam(0.01);
const losses: number[] = [];
for (let i = 0; i < 3; i++) {
  const loss = opt.minimize(
    () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    true,
  )!;
  losses.push(loss.dataSync()[0]!);
  loss.dispose();
}
// The bytes of every weight, hashed: equal hashes mean bit-identical training.
const hash = createHash('sha256');
for (const w of model.getWeights()) hash.update(new Uint8Array((w.dataSync() as Float32Array).buffer));
const sample = Array.from(model.getWeights()[0]!.dataSync().slice(0, 4));
console.log(
  JSON.stringify({
    threads: info.threads,
    busyWorkers: busyWasmWorkers(),
    losses,
    sample,
    weightsSha256: hash.digest('hex'),
  }),
);
