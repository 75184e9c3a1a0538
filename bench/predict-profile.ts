/**
 * Where a warm `predict` spends its time: the default model and detector on the bench's composite group
 * photos (test/helpers/predict-photos.ts), a few warm-up passes, then one profiled pass per photo with
 * the time per tfjs kernel summed over the photos (largest first), and which of them oneDNN ran.
 *
 *   npx tsx bench/predict-profile.ts [--photos 4] [--backend wasm+dnnl|wasm] [--threads N] [--top 15]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { describeBackend } from '../src/engine/backend.js';
import { DNNL_KERNELS } from '../src/engine/dnnl/index.js';
import { Predictor } from '../src/infer/predictor.js';
import { makeGroupPhotos } from '../test/helpers/predict-photos.js';

const { values } = parseArgs({
  options: {
    photos: { type: 'string', default: '4' },
    backend: { type: 'string', default: 'auto' },
    threads: { type: 'string' },
    top: { type: 'string', default: '15' },
  },
});
const photos = await makeGroupPhotos(Number(values.photos));
const predictor = await Predictor.load({
  backend: values.backend as 'auto',
  threads: values.threads ? Number(values.threads) : undefined,
});
const inputs = photos.map((p) => p.jpeg);
for (let i = 0; i < 2; i++) await predictor.predictBatch(inputs);

const t0 = performance.now();
const runs = 3;
for (let i = 0; i < runs; i++) await predictor.predictBatch(inputs);
const perPhoto = (performance.now() - t0) / runs / inputs.length;

const byKernel = new Map<string, { ms: number; calls: number }>();
let total = 0;
for (const jpeg of inputs) {
  const info = await tf.profile(async () => {
    await predictor.predict(jpeg);
  });
  // tfjs also lists each op's scope ('fusedConv2d__op') around its kernel: count kernels only.
  for (const k of info.kernels.filter((k) => !k.name.endsWith('__op'))) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    byKernel.set(k.name, e);
    total += ms;
  }
}
const n = inputs.length;
console.log(`${describeBackend()}; ${n} photos, ${photos.reduce((s, p) => s + p.faces.length, 0)} faces`);
console.log(
  `warm per photo ${perPhoto.toFixed(0)} ms; kernels ${(total / n).toFixed(0)} ms/photo (profiled)`,
);
console.log('kernel                          ms/photo   share  calls/photo  engine');
const dnnl = new Set<string>(DNNL_KERNELS);
for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top))) {
  console.log(
    `${name.padEnd(30)}${(e.ms / n).toFixed(1).padStart(10)}${((100 * e.ms) / total).toFixed(1).padStart(7)}%` +
      `${(e.calls / n).toFixed(0).padStart(12)}  ${dnnl.has(name) && tf.getBackend() === 'wasm' && describeBackend().startsWith('wasm+dnnl') ? 'oneDNN' : tf.getBackend()}`,
  );
}
predictor.dispose();
