/**
 * Where a warm `predict` spends its time: the default model and detector on the bench's composite group
 * photos (test/helpers/predict-photos.ts), a few warm-up passes, then the time per stage (decode, detect,
 * crop + resize, the network on both views and on one view: what the test-time flip costs), then one
 * profiled pass per photo with the time per tfjs kernel summed over the photos (largest first), and
 * which of them oneDNN ran. The machine is often shared: CPU time per stage is printed beside wall time.
 *
 *   npx tsx bench/predict-profile.ts [--photos 4] [--backend wasm+dnnl|wasm] [--threads N] [--top 15]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { BACKEND_CHOICES } from '../src/engine/engine-options.js';
import { describeBackend } from '../src/engine/backend.js';
import { dnnlCallCounts } from '../src/engine/dnnl/index.js';
import { cropRegion } from '../src/infer/crop-rule.js';
import { cropFace, DEFAULT_MAX_PIXELS, type FacePipeline } from '../src/infer/face-pipeline.js';
import { decodeInNode, nodeResize } from '../src/infer/node-decode.js';
import { Predictor } from '../src/infer/predictor.js';
import { classifyFaceCrops } from '../src/infer/readout.js';
import { makeGroupPhotos } from '../test/helpers/predict-photos.js';

const { values } = parseArgs({
  options: {
    photos: { type: 'string', default: '4' },
    backend: { type: 'string', default: 'auto' },
    threads: { type: 'string' },
    top: { type: 'string', default: '15' },
  },
});
const fail = (why: string) => {
  console.error(`predict-profile: ${why}`);
  process.exit(1);
};
if (!(BACKEND_CHOICES as readonly string[]).includes(values.backend!))
  fail(`--backend: expected one of ${BACKEND_CHOICES.join(', ')}, got '${values.backend}'`);
for (const flag of ['photos', 'top'] as const)
  if (!(Number.isInteger(Number(values[flag])) && Number(values[flag]) > 0))
    fail(`--${flag}: expected a positive integer, got '${values[flag]}'`);
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

// Stages, as the pipeline runs them (src/infer/face-pipeline.ts, src/infer/node-decode.ts), each timed alone.
const detector = await predictor.detector();
const { model } = (predictor as unknown as { pipeline: FacePipeline }).pipeline.parts;
const stages = new Map<string, { wall: number; cpu: number }>();
async function timed<T>(stage: string, f: () => Promise<T>): Promise<T> {
  const [w0, c0] = [performance.now(), process.cpuUsage()];
  const out = await f();
  const c = process.cpuUsage(c0);
  const e = stages.get(stage) ?? { wall: 0, cpu: 0 };
  stages.set(stage, { wall: e.wall + performance.now() - w0, cpu: e.cpu + (c.user + c.system) / 1000 });
  return out;
}
for (let i = 0; i < runs; i++) {
  for (const jpeg of inputs) {
    const img = await timed('decode', () => decodeInNode(jpeg, 'photo', DEFAULT_MAX_PIXELS));
    const found = await timed('detect', () => detector.detect(img));
    const crops = await timed('crop + resize', () =>
      Promise.all(
        found.map((d) => cropFace(img, cropRegion(d.box, predictor.faceCrop), predictor.spec, nodeResize)),
      ),
    );
    await timed('classify, both views', () => classifyFaceCrops(tf, model, crops, predictor.spec));
    await timed('classify, one view', () =>
      classifyFaceCrops(tf, model, crops, { ...predictor.spec, flipAverage: false }),
    );
  }
}

const byKernel = new Map<string, { ms: number; calls: number }>();
let total = 0;
const countsBefore = dnnlCallCounts();
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
console.log('stage                     wall ms/photo   cpu ms/photo');
for (const [stage, e] of stages)
  console.log(
    `${stage.padEnd(26)}${(e.wall / runs / n).toFixed(1).padStart(10)}${(e.cpu / runs / n).toFixed(1).padStart(15)}`,
  );
// Which calls oneDNN really ran (element-wise kernels hand small tensors back to wasm).
const countsAfter = dnnlCallCounts();
const engineOf = (name: string) => {
  const ran = (countsAfter[name]?.dnnl ?? 0) - (countsBefore[name]?.dnnl ?? 0);
  const handed = (countsAfter[name]?.fallback ?? 0) - (countsBefore[name]?.fallback ?? 0);
  if (ran === 0) return tf.getBackend();
  return handed === 0 ? 'oneDNN' : `oneDNN ${ran}/${ran + handed}`;
};
console.log('kernel                          ms/photo   share  calls/photo  engine');
for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top))) {
  console.log(
    `${name.padEnd(30)}${(e.ms / n).toFixed(1).padStart(10)}${((100 * e.ms) / total).toFixed(1).padStart(7)}%` +
      `${(e.calls / n).toFixed(0).padStart(12)}  ${engineOf(name)}`,
  );
}
predictor.dispose();
