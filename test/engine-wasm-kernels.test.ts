import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend.js';
import { RELU_GRAD } from '../src/engine/relu-grad.js';
import {
  WASM_TRAINING_KERNELS,
  isWasmTrainingKernel,
  registerWasmTrainingKernels,
} from '../src/engine/wasm-kernels/index.js';
import {
  type Shape4,
  compare,
  rand,
  defineConvAndMatMulTests,
  defineWholeModelTests,
} from './helpers/kernel-compare.js';

/**
 * Every kernel we register for 'wasm' must give the cpu backend's answer (the reference
 * implementation of tfjs) on random data, for the shapes training meets and the awkward ones.
 */

before(async () => {
  await initBackend({ backend: 'wasm', threads: 1, quiet: true });
});

describe('wasm training kernels', () => {
  test('are registered once, idempotently, for wasm', () => {
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    for (const name of WASM_TRAINING_KERNELS) assert.ok(isWasmTrainingKernel(name), name);
  });

  const poolCases: Array<[string, number[], number, number, 'same' | 'valid', boolean]> = [
    ['2x2 s2 valid', [3, 8, 10, 5], 2, 2, 'valid', false],
    ['2x2 s2 valid, odd sides', [2, 9, 7, 3], 2, 2, 'valid', false],
    ['3x3 s2 same (overlapping, padded)', [2, 9, 10, 4], 3, 2, 'same', false],
    ['3x3 s1 same', [2, 6, 7, 3], 3, 1, 'same', false],
    ['2x2 s2 same with ties', [2, 8, 9, 4], 2, 2, 'same', true],
    ['2x2 s2 valid with ties, even sides', [2, 8, 6, 7], 2, 2, 'valid', true],
    ['3x3 s2 valid with ties', [2, 11, 9, 3], 3, 2, 'valid', true],
  ];
  for (const [name, xs, k, s, p, ties] of poolCases) {
    test(`maxPool gradient: ${name}`, async () => {
      const x = rand(xs, 12);
      // Few distinct values: many windows hold their maximum twice; the first one must win.
      if (ties) x.values = x.values.map((v) => Math.round(v * 2));
      const out = tf.backend_util.computePool2DInfo(xs as Shape4, k, s, 1, p).outShape;
      await compare(name, [x, rand(out, 13)], (xt, dyt) => [
        tf.grad((a) => tf.maxPool(a as tf.Tensor4D, k, s, p))(xt!, dyt),
      ]);
    });
  }

  // Per-channel totals (bias gradients, batch norm's moments), and reductions the wasm kernel keeps.
  const reduceCases: Array<[string, number[], number[], boolean]> = [
    ['NHWC over N, H, W', [3, 7, 5, 6], [0, 1, 2], false],
    ['NHWC over N, H, W, keepDims', [2, 5, 4, 3], [0, 1, 2], true],
    ['axes given out of order', [4, 3, 5], [1, 0], false],
    ['a matrix over its rows', [9, 4], [0], false],
    ['over the last axis (not ours)', [3, 4, 5], [2], false],
    ['over everything (not ours)', [3, 4, 5], [0, 1, 2], false],
  ];
  for (const [name, xs, axes, keepDims] of reduceCases) {
    test(`sum and mean: ${name}`, async () => {
      await compare(name, [rand(xs, 21)], (x) => [tf.sum(x!, axes, keepDims), tf.mean(x!, axes, keepDims)]);
    });
  }

  defineConvAndMatMulTests();

  test('ReLU gradient: one kernel on wasm, the cpu answer (zeros, NaN)', async () => {
    const x = rand([3, 7, 5, 4], 40);
    x.values = x.values.map((v, i) => (i % 5 === 0 ? 0 : v)); // exact zeros: step(0) = 0
    await compare('relu grad', [x, rand([3, 7, 5, 4], 41)], (xt, w) => [
      tf.grad((a) => tf.sum(tf.mul(tf.relu(a), w!)))(xt!),
    ]);
    const ran = await tf.profile(() => {
      tf.tidy(() => tf.grad((a) => tf.sum(tf.relu(a)))(tf.ones([4, 4])));
    });
    const names = ran.kernels.map((k) => k.name);
    assert.ok(names.includes(RELU_GRAD) && !names.includes('Step'), names.join(', '));
    // NaN in, NaN out (tfjs's step(NaN) is NaN)
    const g = tf.grad((a) => tf.sum(tf.relu(a)))(tf.tensor([NaN, -1, 0, 2]));
    assert.deepEqual([...g.dataSync()], [NaN, 0, 0, 1]);
    g.dispose();
  });

  test("Identity (clone) and same-type Cast share their input's memory; real casts still convert", () => {
    const x = tf.tensor([1.5, -2, 3], [3]);
    const buffers = tf.memory().numDataBuffers;
    const c = tf.clone(x);
    const same = tf.cast(x, 'float32');
    assert.equal(tf.memory().numDataBuffers, buffers, 'no new memory: views of x');
    assert.equal(c.dataId, x.dataId);
    assert.equal(same.dataId, x.dataId);
    x.dispose(); // the views keep the memory alive
    assert.deepEqual([...c.dataSync()], [1.5, -2, 3]);
    assert.deepEqual([...same.dataSync()], [1.5, -2, 3]);
    const ints = tf.cast(same, 'int32');
    assert.equal(ints.dtype, 'int32');
    assert.deepEqual([...ints.dataSync()], [1, -2, 3]);
    const s = tf.clone(tf.tensor(['a', 'b']));
    assert.deepEqual(s.dataSync(), ['a', 'b']);
    // The gradient through a clone still flows (the engine casts it).
    const g = tf.grad((a) => tf.sum(tf.mul(tf.clone(a), 2)))(tf.tensor([1, 2]));
    assert.deepEqual([...g.dataSync()], [2, 2]);
    tf.dispose([c, same, ints, s, g]);
  });
});

describe('a whole model on wasm', () => {
  defineWholeModelTests();
});
