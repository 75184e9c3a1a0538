import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromFloat16, fromFloat16BitsInto, fromFloat16Into, toFloat16Bits } from '../src/engine/float16.js';
import { loadLayersModelFromDir, saveLayersModelToDir } from '../src/engine/model-io.js';
import { mulberry32 } from '../src/util/random.js';

/** Half-precision bits -> number (the reference decoding of IEEE 754 binary16). */
function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

test('float32 -> float16 rounds to the nearest half (ties to even), with subnormals, Inf and NaN', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff], // largest half
    [65520, 0x7c00], // rounds up to Inf
    [1e6, 0x7c00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -26, 0x0000], // under half of it: zero
    [1 + 2 ** -11, 0x3c00], // a tie: to even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // a tie: to even (up)
    [Infinity, 0x7c00],
  ];
  for (const [v, bits] of cases) assert.equal(toFloat16Bits(v), bits, `${v}`);
  assert.ok(Number.isNaN(fromHalf(toFloat16Bits(NaN))));
  // Every value within half a unit in the last place of the half it becomes.
  const rand = mulberry32(16);
  for (let i = 0; i < 5000; i++) {
    // A float32 value (that is what a weight is), of any magnitude a half can hold.
    const v = Math.fround((rand() - 0.5) * 10 ** (rand() * 8 - 4));
    const back = fromHalf(toFloat16Bits(v));
    const ulp = Math.max(2 ** -24, 2 ** (Math.floor(Math.log2(Math.abs(v))) - 10));
    assert.ok(Math.abs(back - v) <= ulp / 2, `${v} -> ${back}`);
  }
});

test('float16 -> float32 decodes every one of the 65,536 halves exactly (table and bit shifts), into a fresh array or in place', () => {
  const all = Uint16Array.from({ length: 0x10000 }, (_, h) => h);
  const decoded = fromFloat16(all);
  const byBits = new Float32Array(all.length);
  fromFloat16BitsInto(all, byBits);
  for (let h = 0; h < 0x10000; h++) {
    assert.ok(Object.is(decoded[h], Math.fround(fromHalf(h))), `0x${h.toString(16)}`);
    assert.ok(Object.is(byBits[h], Math.fround(fromHalf(h))), `bits 0x${h.toString(16)}`);
  }
  const out = new Float32Array(5).fill(7);
  fromFloat16Into(Uint16Array.of(0x3c00, 0xc000), out, 2);
  assert.deepEqual([...out], [7, 7, 1, -2, 7]);
});

test('a model saved with float16 weights is half the size and loads back within half precision', async () => {
  await tf.setBackend('cpu');
  const input = tf.input({ shape: [6, 6, 3] });
  const conv = tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }).apply(input);
  const flat = tf.layers.flatten().apply(conv);
  const out = tf.layers.dense({ units: 5 }).apply(flat) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agegender-f16-'));
  try {
    await saveLayersModelToDir(model, path.join(dir, 'f32'));
    await saveLayersModelToDir(model, path.join(dir, 'f16'), { weights: 'float16' });
    const size = async (d: string) => (await fs.stat(path.join(dir, d, 'weights.bin'))).size;
    assert.equal(await size('f16'), (await size('f32')) / 2);
    const manifest = JSON.parse(await fs.readFile(path.join(dir, 'f16', 'model.json'), 'utf8'));
    assert.ok(
      manifest.weightsManifest[0].weights.every(
        (w: { quantization?: { dtype: string } }) => w.quantization?.dtype === 'float16',
      ),
    );
    const back = await loadLayersModelFromDir(path.join(dir, 'f16'));
    const original = model.getWeights().map((w) => w.dataSync());
    back.getWeights().forEach((w, k) => {
      w.dataSync().forEach((v, i) => {
        const o = original[k]![i]!;
        assert.ok(Math.abs(v - o) <= Math.abs(o) * 2 ** -11 + 2 ** -25, `weight ${k}[${i}]: ${o} -> ${v}`);
      });
    });
    const x = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 3);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (back.predict(x) as tf.Tensor).dataSync();
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-2 * (1 + Math.abs(v)), `output ${i}`));
    assert.notDeepEqual(Array.from(a), Array.from(b), 'the weights were not rounded at all');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
