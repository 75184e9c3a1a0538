import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { BN_TRAIN, BN_TRAIN_GRAD, batchNormTrain } from '../src/engine/batchnorm-train.js';
import { describeBackend, initBackend } from '../src/engine/backend.js';
import { RELU_GRAD } from '../src/engine/relu-grad.js';
import {
  DNNL_ELEMENTWISE_KERNELS,
  DNNL_KERNELS,
  MIN_ELEMENTWISE,
  dnnlCallCounts,
  dnnlLibrary,
  dnnlReorderedBytes,
  isDnnlKernel,
} from '../src/engine/dnnl/index.js';
import {
  type Shape4,
  compare,
  defineConvAndMatMulTests,
  defineWholeModelTests,
  rand,
} from './helpers/kernel-compare.js';

/**
 * The oneDNN kernels (wasm+dnnl) must give the cpu backend's answer on the same cases as the wasm
 * kernels, plus the forward convolutions, fused epilogues and dilations only they take over; and every
 * one of those calls must really have run on oneDNN, not on the wasm kernel it falls back on.
 */

const lib = dnnlLibrary();
const skip = 'reason' in lib ? `oneDNN unavailable: ${lib.reason}` : false;
if (skip) console.log(`skipping the oneDNN kernel tests: ${skip}`);

describe('oneDNN kernels on wasm', { skip }, () => {
  before(async () => {
    await initBackend({ backend: 'wasm+dnnl', threads: 1, quiet: true });
  });
  after(async () => {
    // Leave the process's wasm backend as the other suites expect it.
    await initBackend({ backend: 'wasm', threads: 1, quiet: true });
  });

  test('are registered in front of the wasm kernels, and the log line says so', () => {
    for (const name of DNNL_KERNELS) assert.ok(isDnnlKernel(name), name);
    assert.match(describeBackend(), /^wasm\+dnnl \(oneDNN 2\.\d+\.\d+, \w+, 1 thread/);
  });

  defineConvAndMatMulTests();

  const explicitCases: Array<[string, Shape4, Shape4, [number, number], [number, number], unknown]> = [
    ['dilation 2, same', [2, 11, 9, 3], [3, 3, 3, 4], [1, 1], [2, 2], 'same'],
    ['dilation (2, 3), valid', [1, 12, 13, 2], [3, 2, 2, 3], [1, 1], [2, 3], 'valid'],
    ['batch 1, 1x1 image, 3x3 same', [1, 1, 1, 5], [3, 3, 5, 2], [1, 1], [1, 1], 'same'],
    ['strides (2, 1), odd sides', [2, 9, 7, 3], [3, 3, 3, 2], [2, 1], [1, 1], 'same'],
    [
      'explicit paddings',
      [2, 7, 8, 2],
      [3, 3, 2, 3],
      [2, 2],
      [1, 1],
      [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    ],
  ];
  for (const [name, xs, ws, s, d, p] of explicitCases) {
    test(`conv2d forward: ${name}`, async () => {
      await compare(name, [rand(xs, 40), rand(ws, 41)], (x, w) => [
        tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, p as 'same', 'NHWC', d),
      ]);
    });
  }

  const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const;
  for (const activation of activations) {
    test(`fused conv2d, depthwise conv and matMul with bias and ${activation}`, async () => {
      const args = [rand([2, 9, 8, 3], 50), rand([3, 3, 3, 4], 51), rand([4], 52), rand([3, 3, 3, 2], 53)];
      await compare(
        `fused ${activation}`,
        [...args, rand([6], 54), rand([5, 7], 55), rand([7, 4], 56)],
        (...t) => {
          const [x, w, b, dw, db, a, m] = t as [
            tf.Tensor4D,
            tf.Tensor4D,
            tf.Tensor1D,
            tf.Tensor4D,
            tf.Tensor1D,
            tf.Tensor2D,
            tf.Tensor2D,
          ];
          const common = { activation, leakyreluAlpha: 0.1 };
          return [
            tf.fused.conv2d({ x, filter: w, strides: 2, pad: 'same', bias: b, ...common }),
            tf.fused.depthwiseConv2d({ x, filter: dw, strides: 1, pad: 'valid', bias: db, ...common }),
            tf.fused.matMul({ a, b: m, bias: b, ...common }),
            tf.fused.matMul({
              a: m,
              b: a,
              transposeA: true,
              transposeB: true,
              bias: tf.zeros([5]),
              ...common,
            }),
          ];
        },
      );
    });
  }

  test('batched matMul over rank-4 batches, and broadcasting a single matrix over a batch', async () => {
    const before = dnnlCallCounts().BatchMatMul?.dnnl ?? 0;
    await compare(
      'broadcast',
      [
        rand([3, 4, 5], 60),
        rand([5, 6], 61),
        rand([2, 4], 62),
        rand([2, 3, 5, 2], 63),
        rand([1, 4, 5], 64),
        rand([2, 3, 4, 5], 65),
      ],
      (a, b, c, d, e, f) => [tf.matMul(a!, b!), tf.matMul(c!, a!), tf.matMul(f!, d!), tf.matMul(e!, d!)],
    );
    assert.equal((dnnlCallCounts().BatchMatMul?.dnnl ?? 0) - before, 4);
  });

  test('a PReLU epilogue (none in oneDNN) goes to the wasm kernel, with the same answer', async () => {
    const before = dnnlCallCounts();
    await compare(
      'fallbacks',
      [rand([2, 6, 6, 3], 70), rand([3, 3, 3, 4], 71), rand([4], 72)],
      (x, w, alpha) => [
        tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: w as tf.Tensor4D,
          strides: 1,
          pad: 'same',
          activation: 'prelu',
          preluActivationWeights: alpha,
        }),
      ],
    );
    const now = dnnlCallCounts();
    assert.equal(now.FusedConv2D!.fallback - (before.FusedConv2D?.fallback ?? 0), 1);
  });

  test('weights used again are kept in oneDNN layout, and a new weight tensor never reads an old copy', () => {
    // Big enough that oneDNN picks a blocked weight layout (so there is a reorder to keep).
    const xs = [0, 1, 2].map((i) => tf.randomNormal([1, 12, 12, 32], 0, 1, 'float32', 80 + i));
    const conv = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
    // (Matmuls read their operands in place, so they have no reorder to keep.)
    for (const [name, op, shape] of [
      ['conv2d', conv, [3, 3, 32, 64]],
      ['conv2d 1x1', conv, [1, 1, 32, 16]],
    ] as const) {
      const kept = dnnlReorderedBytes();
      const w1 = tf.randomNormal([...shape], 0, 0.1, 'float32', 90);
      // Calls 1 and 2 reorder the weights as usual (the copy is made on call 2); call 3 reads the copy.
      const first = xs.map((x) => op(x, w1).arraySync());
      const again = xs.map((x) => op(x, w1).arraySync());
      assert.deepEqual(again, first, `${name}: answers with the kept copy differ`);
      assert.ok(dnnlReorderedBytes() > kept, `${name}: no copy was kept`);
      // Same shape, other values, maybe at the same heap offset once w1 is gone: its own answers.
      w1.dispose();
      const w2 = tf.randomNormal([...shape], 0, 0.1, 'float32', 91);
      const ref = xs.map((x) => op(x, w2).arraySync());
      const later = xs.map((x) => op(x, w2).arraySync());
      assert.deepEqual(later, ref, `${name}: second weights`);
      assert.notDeepEqual(later, first, `${name}: second weights gave the first ones' answers`);
      w2.dispose();
    }
    tf.dispose(xs);
  });

  test('activations, broadcasting adds and batch norm on big tensors run on oneDNN with the cpu answer', async () => {
    const before = dnnlCallCounts();
    const big: Shape4 = [2, 24, 20, 18]; // 17,280 values: just over MIN_ELEMENTWISE
    assert.ok(big.reduce((a, b) => a * b, 1) >= MIN_ELEMENTWISE);
    const [, h, , c] = big;
    await compare(
      'element-wise',
      [
        rand(big, 100),
        rand(big, 101),
        rand([c], 102),
        rand([1, h, 1, c], 103),
        rand([c], 104),
        rand([c], 105),
        rand([c], 106),
        rand([c], 107),
      ],
      (x, y, bias, rowBias, mean, v, offset, scale) => {
        const variance = tf.add(tf.abs(v!), 0.5);
        return [
          tf.relu(x!),
          // ReLU's gradient, with exact zeros in x (step(0) = 0)
          tf.grad((a) => tf.sum(tf.mul(tf.relu(a), y!)))(tf.mul(tf.round(tf.mul(x!, 3)), 0.5)),
          tf.relu6(tf.mul(x!, 8)),
          tf.clipByValue(x!, -0.25, 0.4),
          tf.add(x!, y!),
          tf.add(x!, bias!),
          tf.add(bias!, x!), // the broadcast operand first
          tf.add(x!, rowBias!), // not a bias over the last axis: wasm
          tf.batchNorm(x!, mean!, variance, offset, scale, 1e-3),
          tf.batchNorm(x!, mean!, variance, undefined, scale, 1e-3),
          tf.batchNorm(
            x!,
            mean!.reshape([1, 1, 1, c]),
            variance.reshape([1, 1, 1, c]),
            offset!.reshape([1, 1, 1, c]),
            undefined,
            1e-5,
          ),
          tf.batchNorm(x!, mean!, variance, undefined, undefined, 1e-3),
        ];
      },
    );
    const now = dnnlCallCounts();
    const ran = (k: string) => (now[k]?.dnnl ?? 0) - (before[k]?.dnnl ?? 0);
    assert.deepEqual(
      DNNL_ELEMENTWISE_KERNELS.map((k) => [k, ran(k)]),
      [
        ['Relu', 2],
        ['Relu6', 1],
        ['ClipByValue', 1],
        ['Add', 3],
        ['FusedBatchNorm', 4],
        [RELU_GRAD, 1],
      ],
    );
  });

  test('max and average pooling gradients on big tensors run on oneDNN with the cpu answer', async () => {
    const before = dnnlCallCounts();
    // [name, x shape, window, stride, padding, ties]: the dlib ResNet's stem pool and shortcut pools among them
    const cases: Array<[string, Shape4, number, number, 'same' | 'valid', boolean]> = [
      ['3x3 s2 valid (the stem pool)', [2, 37, 37, 16], 3, 2, 'valid', false],
      ['3x3 s2 valid with ties', [2, 37, 36, 16], 3, 2, 'valid', true],
      ['2x2 s2 valid, odd sides', [2, 35, 33, 12], 2, 2, 'valid', false],
      ['3x3 s2 same (padded)', [2, 30, 31, 16], 3, 2, 'same', false],
    ];
    for (const [name, xs, k, st, p, ties] of cases) {
      const x = rand(xs, 120);
      if (ties) x.values = x.values.map((v) => Math.round(v * 2)); // the first maximum must win
      const out = tf.backend_util.computePool2DInfo(xs, k, st, 1, p).outShape;
      await compare(name, [x, rand(out, 121)], (xt, dyt) => [
        tf.grad((a) => tf.maxPool(a as tf.Tensor4D, k, st, p))(xt!, dyt),
        tf.grad((a) => tf.avgPool(a as tf.Tensor4D, k, st, p))(xt!, dyt),
      ]);
    }
    const now = dnnlCallCounts();
    const ran = (kernel: string) => (now[kernel]?.dnnl ?? 0) - (before[kernel]?.dnnl ?? 0);
    assert.equal(ran('MaxPoolGrad'), 4);
    assert.equal(ran('AvgPoolGrad'), 3, 'all but the padded one');
  });

  test('training batch norm and its gradient on a big tensor run on oneDNN with the cpu answer', async () => {
    const before = dnnlCallCounts();
    const big: Shape4 = [4, 16, 16, 24];
    await compare(
      'batch norm training',
      [rand(big, 110), rand([24], 111), rand([24], 112), rand(big, 113)],
      (x, gamma, beta, w) => {
        const normalize = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          batchNormTrain(a, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3);
        const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(normalize(a, g, b)[0], w!)),
        )([x!, gamma!, beta!]);
        return [...normalize(x!, gamma!, beta!), ...grads];
      },
    );
    const now = dnnlCallCounts();
    for (const k of [BN_TRAIN, BN_TRAIN_GRAD])
      assert.ok((now[k]?.dnnl ?? 0) > (before[k]?.dnnl ?? 0), `${k} did not run on oneDNN`);
  });

  test('small tensors, both-sides broadcasts and int adds stay on the wasm kernels', async () => {
    const before = dnnlCallCounts();
    await compare(
      'element-wise fallbacks',
      [rand([4, 5, 6, 3], 110), rand([40, 1, 30], 111), rand([1, 50, 30], 112)],
      (x, a, b) => [
        tf.relu(x!),
        tf.add(x!, x!),
        tf.add(a!, b!), // [40, 50, 30]: neither operand has the output's shape
        tf.add(tf.tensor1d([1, 2, 3], 'int32'), tf.tensor1d([4, 5, 6], 'int32')).cast('float32'),
      ],
    );
    const now = dnnlCallCounts();
    assert.equal((now.Relu?.dnnl ?? 0) - (before.Relu?.dnnl ?? 0), 0);
    assert.equal((now.Add?.dnnl ?? 0) - (before.Add?.dnnl ?? 0), 0);
    assert.equal((now.Add?.fallback ?? 0) - (before.Add?.fallback ?? 0), 3);
  });

  describe('a whole model', () => {
    defineWholeModelTests();
  });

  test('every convolution and matmul kernel above ran on oneDNN', () => {
    const counts = dnnlCallCounts();
    for (const name of DNNL_KERNELS) {
      assert.ok(
        (counts[name]?.dnnl ?? 0) > 0,
        `${name} never ran on oneDNN: ${JSON.stringify(counts[name])}`,
      );
    }
    for (const name of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'DepthwiseConv2dNative']) {
      assert.equal(counts[name]?.fallback ?? 0, 0, `${name} fell back to wasm`);
    }
  });
});
