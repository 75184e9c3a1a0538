import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, initBackend } from '../src/engine/backend.js';
import { dnnlCallCounts, dnnlLibrary } from '../src/engine/dnnl/index.js';
import { type Arr, on, rand } from './helpers/kernel-compare.js';

/**
 * `--precision bf16`: the convolutions and their gradients really compute in bf16 (their answers carry
 * bf16's rounding, about 1e-3 relative, so not f32's) and stay within bf16's accuracy of the cpu
 * backend's f32 answers. Skipped where oneDNN or the CPU's bf16 instructions are missing.
 */
const lib = dnnlLibrary();
const skip =
  'reason' in lib
    ? `oneDNN unavailable: ${lib.reason}`
    : (lib.cpuIsa & 231) !== 231
      ? 'this CPU has no bf16 instructions'
      : false;
if (skip) console.log(`skipping the bf16 tests: ${skip}`);

/** Relative L2 error of `a` against `e`, over all outputs. */
function relError(a: Arr[], e: Arr[]): number[] {
  return e.map((ek, k) => {
    let num = 0;
    let den = 0;
    ek.values.forEach((v, i) => {
      num += (a[k]!.values[i]! - v) ** 2;
      den += v * v;
    });
    return Math.sqrt(num / Math.max(den, 1e-30));
  });
}

before(async () => {
  if (!skip) await initBackend({ backend: 'wasm+dnnl', precision: 'bf16', threads: 1, quiet: true });
});
after(async () => {
  if (!skip) await initBackend({ backend: 'wasm', threads: 1, quiet: true });
});

test('bf16 convolutions, forward and both gradients, within bf16 accuracy of f32', { skip }, async () => {
  assert.match(describeBackend(), /, bf16, /);
  const args = [rand([2, 12, 12, 16], 1), rand([3, 3, 16, 32], 2), rand([2, 12, 12, 32], 3)];
  const fn = (x: tf.Tensor, w: tf.Tensor, dy: tf.Tensor) => {
    const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same');
    const [dx, dw] = tf.grads(conv)([x, w], dy);
    return [conv(x, w), dx!, dw!];
  };
  const before = dnnlCallCounts();
  const expected = await on('cpu', args, fn);
  const actual = await on('wasm', args, fn);
  const now = dnnlCallCounts();
  for (const k of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'])
    assert.ok((now[k]?.dnnl ?? 0) > (before[k]?.dnnl ?? 0), `${k} did not run on oneDNN`);
  const errors = relError(actual, expected);
  for (const [i, e] of errors.entries()) {
    assert.ok(e < 2e-2, `output ${i}: relative error ${e} is more than bf16's`);
    assert.ok(e > 1e-5, `output ${i}: relative error ${e}: computed in f32, not bf16`);
  }
});
