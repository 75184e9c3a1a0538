import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createAdam } from '../src/engine/adam.js';
import { initBackend } from '../src/engine/backend.js';

before(async () => {
  await initBackend({ backend: 'wasm', threads: 1, quiet: true });
});

/** A small net with a dense layer that dominates the parameters, as the seed network has. */
function net(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  let h = tf.layers
    .conv2d({
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    })
    .apply(input) as tf.SymbolicTensor;
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  h = tf.layers
    .dense({ units: 64, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })
    .apply(h) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 5, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })
    .apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

const x = () => tf.tidy(() => tf.randomUniform([6, 8, 8, 3], -1, 1, 'float32', 7));
const y = () => tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32'), 5);

function train(model: tf.LayersModel, opt: tf.Optimizer, steps: number): number[] {
  const xs = x();
  const ys = y();
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const loss = opt.minimize(
      () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as tf.Tensor) as tf.Scalar,
      true,
    )!;
    losses.push(loss.dataSync()[0]!);
    loss.dispose();
  }
  tf.dispose([xs, ys]);
  return losses;
}

test('fused Adam follows tf.train.adam step for step on wasm (weights, moments, losses)', async () => {
  const a = net();
  const b = net();
  const stock = tf.train.adam(0.01);
  const fused = createAdam(0.01);
  const la = train(a, stock, 5);
  const lb = train(b, fused, 5);
  for (let i = 0; i < la.length; i++)
    assert.ok(Math.abs(la[i]! - lb[i]!) < 1e-5, `loss ${i}: ${la[i]} vs ${lb[i]}`);
  assert.ok(lb[4]! < lb[0]!, 'loss decreases');
  const wa = a.getWeights();
  const wb = b.getWeights();
  for (let i = 0; i < wa.length; i++) {
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(wa[i]!, wb[i]!))).dataSync()[0]!);
    assert.ok(d < 1e-5, `weight ${i} differs by ${d}`);
  }
  // Same optimizer state, under the same names (checkpoints stay interchangeable).
  const sa = await stock.getWeights();
  const sb = await fused.getWeights();
  assert.deepEqual(
    sb.map((w) => w.name.replace(/\d+/g, '')),
    sa.map((w) => w.name.replace(/\d+/g, '')),
  );
  for (let i = 0; i < sa.length; i++) {
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(sa[i]!.tensor, sb[i]!.tensor))).dataSync()[0]!);
    assert.ok(d < 1e-5, `optimizer weight ${sa[i]!.name} differs by ${d}`);
  }
  assert.equal(fused.getClassName(), 'Adam');
  stock.dispose();
  fused.dispose();
  a.dispose();
  b.dispose();
});

test("fused Adam gives tf.train.adam's weights and moments bit for bit (SIMD body and scalar tail)", async () => {
  // 4k + 3 values: the SIMD function takes the first 4k, the scalar tail the last 3.
  const n = 4 * 250 + 3;
  const init = tf.randomNormal([n], 0, 1, 'float32', 3);
  const a = tf.variable(init, true, 'adam_exact_a');
  const b = tf.variable(init, true, 'adam_exact_b');
  const stock = tf.train.adam(0.01);
  const fused = createAdam(0.01);
  for (let s = 0; s < 4; s++) {
    const g = tf.randomNormal([n], 0, 1, 'float32', 10 + s);
    // (typed as variables; tfjs reads plain tensors as gradients)
    stock.applyGradients({ adam_exact_a: g } as never);
    fused.applyGradients({ adam_exact_b: g } as never);
    g.dispose();
  }
  assert.deepEqual(b.dataSync(), a.dataSync());
  const [sa, sb] = [await stock.getWeights(), await fused.getWeights()];
  for (let i = 0; i < sa.length; i++)
    assert.deepEqual(sb[i]!.tensor.dataSync(), sa[i]!.tensor.dataSync(), sa[i]!.name);
  tf.dispose([init, a, b]);
  stock.dispose();
  fused.dispose();
});

test('fused Adam leaves tensors that share a weight or a moment untouched (reshapes keep the old values)', async () => {
  const model = net();
  const opt = createAdam(0.05);
  train(model, opt, 1);
  const kernel = model.trainableWeights[2]!.read();
  const before = kernel.reshape([-1]); // shares the memory (reference-counted)
  const snapshot = before.dataSync().slice();
  // The moments are updated in place: a reshape of one (sharing its memory) must not see that.
  const moment = (await opt.getWeights()).find((w) => w.name.endsWith('/m'))!.tensor;
  const momentBefore = moment.reshape([-1]);
  const momentSnapshot = momentBefore.dataSync().slice();
  train(model, opt, 1);
  assert.deepEqual(before.dataSync(), snapshot, 'the reshaped weight kept its values');
  assert.notDeepEqual(model.trainableWeights[2]!.read().dataSync(), snapshot, 'the weight moved');
  assert.deepEqual(momentBefore.dataSync(), momentSnapshot, 'the reshaped moment kept its values');
  assert.notDeepEqual(moment.dataSync(), momentSnapshot, 'the moment moved');
  tf.dispose([before, momentBefore]);
  opt.dispose();
  model.dispose();
});

test('fused Adam needs far less peak memory than tf.train.adam', async () => {
  const peak = async (opt: tf.Optimizer) => {
    const model = net();
    const xs = x();
    const ys = y();
    train(model, opt, 1); // moments allocated
    const info = await tf.profile(() => {
      opt.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as tf.Tensor) as tf.Scalar);
    });
    tf.dispose([xs, ys]);
    opt.dispose();
    model.dispose();
    return info.peakBytes - info.newBytes;
  };
  const stock = await peak(tf.train.adam(0.01));
  const fused = await peak(createAdam(0.01));
  const paramBytes = tf.tidy(() => net().countParams()) * 4;
  assert.ok(
    fused < stock - 5 * paramBytes,
    `peak: fused ${fused} B, stock ${stock} B (params ${paramBytes} B)`,
  );
});
