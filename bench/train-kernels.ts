/**
 * Times the wasm kernels we register (src/engine/wasm-kernels) against what the wasm backend had
 * before: the original kernel where one exists, else the forward conv of the same layer as a yardstick.
 * Shapes are the seed network's (basic-cnn: conv 5x5 32/64/128 + pool, dense 1024) at 64x64, batch 32.
 *
 *   npx tsx bench/train-kernels.ts [--threads N]
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { initBackend, describeBackend } from '../src/engine/backend.js';

const threadsArg = process.argv.indexOf('--threads');
const threads = threadsArg > 0 ? Number(process.argv[threadsArg + 1]) : 1;

// Capture the package's own kernels before ours replace them.
const original = {
  Conv2DBackpropInput: tf.getKernel('Conv2DBackpropInput', 'wasm')!,
  BatchMatMul: tf.getKernel('BatchMatMul', 'wasm')!,
  MaxPoolGrad: tf.getKernel('MaxPoolGrad', 'wasm')!,
};
await initBackend({ backend: 'wasm', threads, quiet: true });
const backend = tf.backend() as tf.KernelBackend & { disposeData(id: object): boolean };
// Replaced before the backend started, the originals never had their wasm functions bound.
for (const k of Object.values(original)) k.setupFunc?.(backend);

/**
 * Milliseconds per call in process CPU time (all threads): on a shared machine it moves far less with
 * the load than wall time does, so before/after ratios stay meaningful.
 */
function time(fn: () => tf.TensorInfo, reps = 5): number {
  const out0 = fn(); // warm-up (XNNPACK operator creation and caches)
  backend.disposeData(out0.dataId as object);
  const c0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) {
    const out = fn();
    void backend.readSync(out.dataId);
    backend.disposeData(out.dataId as object);
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / reps;
}

const call = (config: tf.KernelConfig | string, inputs: Record<string, tf.Tensor>, attrs: object) => {
  const c = typeof config === 'string' ? tf.getKernel(config, 'wasm')! : config;
  return c.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
};

const rows: string[][] = [];
const row = (...cells: string[]) => rows.push(cells);
const ms = (v: number) => v.toFixed(1);
row('kernel', 'shape', 'before cpu-ms', 'ours cpu-ms', 'speed-up');

const B = 32;
for (const [h, ci, co] of [
  [64, 3, 32],
  [32, 32, 64],
  [16, 64, 128],
] as const) {
  const x = tf.randomNormal([B, h, h, ci]);
  const w = tf.randomNormal([5, 5, ci, co]);
  const dy = tf.randomNormal([B, h, h, co]);
  const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
  const fwd = time(() => call('Conv2D', { x, filter: w }, { ...attrs, dilations: 1 }));
  const filt = time(() => call('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }));
  row('Conv2DBackpropFilter', `${h}x${h}x${ci}->${co}`, `missing (fwd conv ${ms(fwd)})`, ms(filt), '-');
  if (ci > 3) {
    const inAttrs = { ...attrs, inputShape: x.shape };
    const before = time(() => call(original.Conv2DBackpropInput, { dy, filter: w }, inAttrs), 2);
    const ours = time(() => call('Conv2DBackpropInput', { dy, filter: w }, inAttrs));
    row(
      'Conv2DBackpropInput',
      `${h}x${h}x${ci}->${co}`,
      ms(before),
      ms(ours),
      `${(before / ours).toFixed(1)}x`,
    );
  }
  tf.dispose([x, w, dy]);
}
// resnet-s's strided convs (batch 64 at 64x64: stage inputs 32x32x32, 16x16x64, 8x8x128)
for (const [hw, ci, co, k] of [
  [32, 32, 64, 3],
  [32, 32, 64, 1],
  [16, 64, 128, 3],
  [8, 128, 256, 3],
  [32, 32, 64, 5],
] as const) {
  const s = 2;
  const x = tf.randomNormal([64, hw, hw, ci]);
  const w = tf.randomNormal([k, k, ci, co]);
  const dy = tf.randomNormal([64, hw / 2, hw / 2, co]);
  const inAttrs = {
    strides: s,
    pad: 'same',
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    inputShape: x.shape,
  };
  const before = time(() => call(original.Conv2DBackpropInput, { dy, filter: w }, inAttrs), 2);
  const ours = time(() => call('Conv2DBackpropInput', { dy, filter: w }, inAttrs));
  row(
    'Conv2DBackpropInput',
    `${hw}x${hw}x${ci}->${co} ${k}x${k} s${s} b64`,
    ms(before),
    ms(ours),
    `${(before / ours).toFixed(1)}x`,
  );
  tf.dispose([x, w, dy]);
}
for (const [h, c] of [
  [64, 32],
  [32, 64],
  [16, 128],
] as const) {
  const x = tf.randomNormal([B, h, h, c]);
  const y = tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid');
  const dy = tf.randomNormal(y.shape);
  const attrs = { filterSize: 2, strides: 2, pad: 'valid', dimRoundingMode: undefined };
  const before = time(() => call(original.MaxPoolGrad, { dy, input: x, output: y }, attrs));
  const ours = time(() => call('MaxPoolGrad', { dy, input: x, output: y }, attrs));
  row('MaxPoolGrad', `2x2 s2 on ${h}x${h}x${c}`, ms(before), ms(ours), `${(before / ours).toFixed(1)}x`);
  tf.dispose([x, y, dy]);
}
for (const [m, k, n, ta, tb, what] of [
  [8192, B, 1024, true, false, 'dense 8192->1024 dW = x^T dy'],
  [B, 1024, 8192, false, true, 'dense 8192->1024 dx = dy W^T'],
  [1024, B, 101, true, false, 'head 1024->101 dW'],
] as const) {
  const a = tf.randomNormal(ta ? [k, m] : [m, k]);
  const b = tf.randomNormal(tb ? [n, k] : [k, n]);
  const attrs = { transposeA: ta, transposeB: tb };
  const before = time(() => call(original.BatchMatMul, { a, b }, attrs), 2);
  const ours = time(() => call('BatchMatMul', { a, b }, attrs));
  row('BatchMatMul', what, ms(before), ms(ours), `${(before / ours).toFixed(1)}x`);
  tf.dispose([a, b]);
}
console.log(
  `${describeBackend()}; load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
