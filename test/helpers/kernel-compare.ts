import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';

/**
 * The harness the kernel suites share (test/engine-wasm-kernels.test.ts, test/engine-dnnl-kernels.test.ts):
 * deterministic random tensors, a run on a named backend, a comparison against the cpu backend (the
 * reference implementation of tfjs), and the shapes every convolution and matmul kernel must handle.
 */

/** Deterministic uniform(-1, 1) values (mulberry32), so a failure reproduces. */
export function randomValues(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export type Shape4 = [number, number, number, number];

export interface Arr {
  shape: number[];
  values: Float32Array;
}
export const rand = (shape: number[], seed: number): Arr => ({
  shape,
  values: randomValues(
    shape.reduce((a, b) => a * b, 1),
    seed,
  ),
});

/** Runs `fn` on the given backend with fresh tensors made from `args`; returns plain arrays. */
export async function on(
  backend: string,
  args: Arr[],
  fn: (...t: tf.Tensor[]) => tf.Tensor[],
): Promise<Arr[]> {
  await tf.setBackend(backend);
  const inputs = args.map((a) => tf.tensor(a.values, a.shape, 'float32'));
  const outs = tf.tidy(() => fn(...inputs));
  const res = await Promise.all(
    outs.map(async (t) => ({ shape: t.shape.slice(), values: (await t.data()) as Float32Array })),
  );
  tf.dispose([...inputs, ...outs]);
  return res;
}

export function assertClose(actual: Arr[], expected: Arr[], what: string, rtol = 2e-5): void {
  assert.equal(actual.length, expected.length, what);
  for (let k = 0; k < expected.length; k++) {
    const a = actual[k]!;
    const e = expected[k]!;
    assert.deepEqual(a.shape, e.shape, `${what}: output ${k} shape`);
    let scale = 1e-6;
    for (const v of e.values) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    let at = -1;
    for (let i = 0; i < e.values.length; i++) {
      const d = Math.abs(a.values[i]! - e.values[i]!);
      if (d > worst) [worst, at] = [d, i];
    }
    assert.ok(
      worst <= rtol * scale,
      `${what}: output ${k} differs by ${worst} at ${at} (scale ${scale}, wasm ${a.values[at]}, cpu ${e.values[at]})`,
    );
  }
}

/** Runs `fn` on cpu (the reference) and on wasm (whatever kernels are registered there) and compares. */
export async function compare(
  what: string,
  args: Arr[],
  fn: (...t: tf.Tensor[]) => tf.Tensor[],
  rtol?: number,
) {
  const expected = await on('cpu', args, fn);
  const before = tf.memory().numTensors;
  const actual = await on('wasm', args, fn);
  assert.equal(tf.memory().numTensors, before, `${what}: tensors leaked`);
  assertClose(actual, expected, what, rtol);
}

export const runKernel = (name: string, inputs: Record<string, tf.Tensor>, attrs: object) =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;

/** [name, x shape, filter shape, stride, padding] */
export const CONV_CASES: Array<[string, number[], number[], number, 'same' | 'valid']> = [
  ['5x5 same s1', [2, 12, 12, 3], [5, 5, 3, 4], 1, 'same'],
  ['3x3 same s1', [3, 9, 11, 4], [3, 3, 4, 5], 1, 'same'],
  ['3x3 valid s1', [2, 10, 9, 2], [3, 3, 2, 6], 1, 'valid'],
  ['3x3 same s2', [2, 11, 10, 3], [3, 3, 3, 4], 2, 'same'],
  ['3x3 valid s2 odd leftover', [2, 10, 12, 3], [3, 3, 3, 2], 2, 'valid'],
  ['5x5 same s2', [2, 13, 8, 2], [5, 5, 2, 3], 2, 'same'],
  ['4x2 even kernel same s1', [2, 9, 8, 3], [4, 2, 3, 4], 1, 'same'],
  ['2x2 even kernel same s2', [1, 8, 7, 2], [2, 2, 2, 3], 2, 'same'],
  ['1x1 valid s2', [2, 9, 9, 4], [1, 1, 4, 3], 2, 'valid'],
  ['7x7 same s3', [2, 16, 14, 3], [7, 7, 3, 4], 3, 'same'],
  // sides divisible by the stride: the sub-pixel path
  ['3x3 same s2, even sides', [2, 8, 10, 3], [3, 3, 3, 4], 2, 'same'],
  ['3x3 valid s2, even sides', [2, 10, 8, 2], [3, 3, 2, 5], 2, 'valid'],
  ['1x1 same s2 (projection)', [3, 8, 8, 4], [1, 1, 4, 6], 2, 'same'],
  ['5x5 same s2, even sides', [2, 12, 8, 3], [5, 5, 3, 2], 2, 'same'],
  ['4x4 same s2, even kernel', [2, 8, 8, 2], [4, 4, 2, 3], 2, 'same'],
  ['3x3 valid s3, sides of 9', [2, 9, 9, 2], [3, 3, 2, 3], 3, 'valid'],
  ['2x2 valid s3, kernel smaller than stride', [1, 9, 12, 2], [2, 2, 2, 3], 3, 'valid'],
  // channels in multiples of 8 (oneDNN's channels-last kernels), and a stem's 3 channels into 8 or from 8
  ['3x3 same s1, 8 -> 16 channels', [2, 9, 9, 8], [3, 3, 8, 16], 1, 'same'],
  ['3x3 same s2, 16 -> 8 channels', [2, 10, 10, 16], [3, 3, 16, 8], 2, 'same'],
  ['1x1 valid s2, 16 -> 24 channels', [2, 8, 8, 16], [1, 1, 16, 24], 2, 'valid'],
  ['3x3 same s2, image 3 -> 16 channels', [2, 12, 12, 3], [3, 3, 3, 16], 2, 'same'],
  ['7x7 valid s2, image 3 -> 8 channels', [2, 17, 17, 3], [7, 7, 3, 8], 2, 'valid'],
  ['3x3 same s1, 8 -> 5 channels', [2, 9, 9, 8], [3, 3, 8, 5], 1, 'same'],
  ['1x1 same s1, 8 -> 16 channels', [2, 5, 6, 8], [1, 1, 8, 16], 1, 'same'],
];

/** [name, x shape, filter shape [kh, kw, C, M], stride, padding, dilation] */
export const DEPTHWISE_CASES: Array<[string, number[], number[], number, 'same' | 'valid', number]> = [
  ['3x3 same s1 m1', [2, 9, 9, 4], [3, 3, 4, 1], 1, 'same', 1],
  ['3x3 same s2 m1', [2, 10, 11, 3], [3, 3, 3, 1], 2, 'same', 1],
  ['5x5 valid s2 m2', [2, 12, 11, 3], [5, 5, 3, 2], 2, 'valid', 1],
  ['2x4 even same s1 m3', [3, 7, 8, 2], [2, 4, 2, 3], 1, 'same', 1],
  ['3x3 same dilation 2', [2, 11, 10, 3], [3, 3, 3, 2], 1, 'same', 2],
  ['3x3 valid dilation 2', [2, 11, 12, 2], [3, 3, 2, 1], 1, 'valid', 2],
];

/** [a shape, b shape, transposeA, transposeB] */
export const MATMUL_CASES: Array<[number[], number[], boolean, boolean]> = [
  [[7, 5], [7, 6], true, false],
  [[7, 5], [6, 5], false, true],
  [[5, 7], [6, 5], true, true],
  [[3, 4, 5], [3, 5, 2], false, false],
  [[3, 5, 4], [3, 2, 5], true, true],
  [[2, 6, 4], [1, 6, 3], true, false],
  // shapes for which the kernel computes the transposed product instead (fewer elements to transpose)
  [[2, 5], [50, 5], false, true],
  [[40, 3], [40, 2], true, false],
  [[1, 2, 6], [3, 40, 6], false, true],
];

/**
 * Tests of a whole model on wasm against cpu: the loss gradients of every weight of a tiny net with
 * every layer kind training uses, and a few Adam steps. Call inside a describe block.
 */
export function defineWholeModelTests(): void {
  /** A tiny net with every layer kind training uses; weights are set explicitly, so both match. */
  function tinyNet(weights: Arr[] | null): tf.LayersModel {
    const input = tf.input({ shape: [16, 16, 3] });
    let h = tf.layers.conv2d({ filters: 4, kernelSize: 5, padding: 'same', activation: 'relu' }).apply(input);
    h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h);
    h = tf.layers.batchNormalization().apply(h);
    h = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'valid' }).apply(h);
    h = tf.layers.reLU({ maxValue: 6 }).apply(h);
    h = tf.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(h);
    const pooled = tf.layers.averagePooling2d({ poolSize: 2, padding: 'same' }).apply(h);
    const gap = tf.layers.globalAveragePooling2d({}).apply(h);
    const flat = tf.layers.flatten().apply(pooled);
    const joined = tf.layers.concatenate().apply([flat as tf.SymbolicTensor, gap as tf.SymbolicTensor]);
    const dense = tf.layers.dense({ units: 8, activation: 'relu' }).apply(joined);
    const age = tf.layers.dense({ units: 7, name: 'age' }).apply(dense) as tf.SymbolicTensor;
    const gender = tf.layers.dense({ units: 2, name: 'gender' }).apply(dense) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [age, gender] });
    if (weights) model.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
    return model;
  }

  test('loss gradients of every weight match the cpu backend', async () => {
    await tf.setBackend('cpu');
    const shapes = tf.tidy(() =>
      tinyNet(null)
        .getWeights()
        .map((w) => w.shape),
    );
    const weights = shapes.map((s, i) => {
      const r = rand(s, 100 + i);
      r.values = r.values.map((v) => v * 0.5);
      return r;
    });
    const x = rand([4, 16, 16, 3], 20);
    const grads = (backend: string) =>
      on(backend, [x], (xt) => {
        const model = tinyNet(weights);
        const yAge = tf.oneHot(tf.tensor1d([0, 3, 6, 2], 'int32'), 7);
        const yGender = tf.oneHot(tf.tensor1d([1, 0, 1, 1], 'int32'), 2);
        const { grads: g } = tf.variableGrads(() => {
          const [a, gd] = model.apply(xt!, { training: true }) as tf.Tensor[];
          return tf.add(
            tf.losses.softmaxCrossEntropy(yAge, a!),
            tf.losses.softmaxCrossEntropy(yGender, gd!),
          ) as tf.Scalar;
        });
        const out = model.trainableWeights.map((w) => g[w.name]!);
        model.dispose();
        return out;
      });
    const expected = await grads('cpu');
    const actual = await grads('wasm');
    assertClose(actual, expected, 'whole-model gradients', 1e-4);
  });

  test('a few Adam steps with dropout train the same weights on wasm as on cpu', async () => {
    // Dropout draws random masks; with rate 0 the layer is still in the graph, so its gradient path runs.
    await tf.setBackend('cpu');
    const x = rand([4, 16, 16, 3], 30);
    const steps = (backend: string) =>
      on(backend, [x], (xt) => {
        const input = tf.input({ shape: [16, 16, 3] });
        let h = tf.layers
          .conv2d({
            filters: 4,
            kernelSize: 3,
            padding: 'same',
            activation: 'relu',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
          })
          .apply(input);
        h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h);
        h = tf.layers.flatten().apply(h);
        h = tf.layers.dropout({ rate: 0 }).apply(h);
        const out = tf.layers
          .dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })
          .apply(h) as tf.SymbolicTensor;
        const model = tf.model({ inputs: input, outputs: out });
        const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
        const opt = tf.train.adam(0.01);
        for (let i = 0; i < 3; i++) {
          opt.minimize(
            () =>
              tf.losses.softmaxCrossEntropy(
                y,
                model.apply(xt!, { training: true }) as tf.Tensor,
              ) as tf.Scalar,
          );
        }
        const w = model.getWeights().map((t) => t.clone());
        opt.dispose();
        model.dispose();
        return w;
      });
    const expected = await steps('cpu');
    const actual = await steps('wasm');
    assertClose(actual, expected, 'weights after 3 Adam steps', 1e-4);
  });
}

/**
 * The convolution (plain: forward and both gradients; depthwise: forward, all inference needs) and matmul comparisons
 * against cpu over the shared case tables. Call inside a describe block.
 */
export function defineConvAndMatMulTests(): void {
  for (const [name, xs, ws, s, p] of CONV_CASES) {
    test(`conv2d and its gradients (input and filter): ${name}`, async () => {
      const x = rand(xs, 1);
      const w = rand(ws, 2);
      const probe = tf.backend_util.computeConv2DInfo(xs as Shape4, ws as Shape4, s, 1, p).outShape;
      const dy = rand(probe, 3);
      await compare(name, [x, w, dy], (xt, wt, dyt) => {
        const g = tf.grads((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, p))(
          [xt as tf.Tensor4D, wt as tf.Tensor4D],
          dyt,
        );
        return [tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, s, p), ...g];
      });
    });
  }

  for (const [name, xs, ws, s, p, d] of DEPTHWISE_CASES) {
    test(`depthwise conv forward: ${name}`, async () => {
      await compare(name, [rand(xs, 4), rand(ws, 5)], (xt, wt) => [
        tf.depthwiseConv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, s, p, 'NHWC', d),
      ]);
    });
  }

  for (const [as, bs, ta, tb] of MATMUL_CASES) {
    test(`matMul ${JSON.stringify(as)}${ta ? 'ᵀ' : ''} x ${JSON.stringify(bs)}${tb ? 'ᵀ' : ''}`, async () => {
      await compare('matMul', [rand(as, 10), rand(bs, 11)], (a, b) => [
        runKernel('BatchMatMul', { a: a!, b: b! }, { transposeA: ta, transposeB: tb }),
      ]);
    });
  }
}
