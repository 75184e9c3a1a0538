/**
 * Where a training step's time goes on our engine: img/s of forward+backward+Adam steps of a
 * `buildModel` architecture, then one profiled step with the time per kernel (largest first).
 *
 *   npx tsx bench/train-profile.ts [--arch basic-cnn] [--size 64] [--batch 32] [--steps 5] [--threads N]
 *     [--optimizer fused|stock] [--infer] [--by-shape]
 * --arch dlib-resnet: the default model's network as finetune's full phase trains it (150 px, --size ignored).
 * --by-shape: kernels keyed by name and input shapes. With oneDNN, prints which kernels fell back to wasm.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { createAdam } from '../src/engine/adam.js';
import { type BackendChoice, describeBackend, initBackend } from '../src/engine/backend.js';
import { dnnlCallCounts } from '../src/engine/dnnl/kernels.js';
import { buildAgeGenderNet } from '../src/model/agegender-net.js';
import { BACKBONES } from '../src/model/backbones/index.js';
import { buildModel } from '../src/model/index.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
}
const arch = arg('arch', 'basic-cnn');
const size = arch === 'dlib-resnet' ? 150 : Number(arg('size', '64'));
const batch = Number(arg('batch', '32'));
const steps = Number(arg('steps', '5'));
const threadsOpt = arg('threads', '');
const backendOpt = arg('backend', 'wasm') as BackendChoice;

await initBackend({ backend: backendOpt, threads: threadsOpt ? Number(threadsOpt) : undefined, quiet: true });
const model =
  arch === 'dlib-resnet'
    ? (
        await buildAgeGenderNet(BACKBONES['dlib-resnet'], {
          features: 'fine',
          hidden: 512,
          dropout: 0.3,
          seed: 1,
          ensemble: 4,
        })
      ).image
    : buildModel(arch, { imageSize: size, seed: 1 });
const optimizer = arg('optimizer', 'fused') === 'fused' ? createAdam(1e-3) : tf.train.adam(1e-3);
const x = tf.randomNormal([batch, size, size, 3]);
const ageT = tf.oneHot(tf.randomUniform([batch], 0, 101, 'int32'), 101);
const genderT = tf.oneHot(tf.randomUniform([batch], 0, 2, 'int32'), 2);

function step(): number {
  return tf.tidy(() => {
    const loss = optimizer.minimize(() => {
      const [a, g] = model.apply(x, { training: true }) as tf.Tensor[];
      return tf.div(
        tf.add(tf.losses.softmaxCrossEntropy(ageT, a!), tf.losses.softmaxCrossEntropy(genderT, g!)),
        2,
      ) as tf.Scalar;
    }, true)!;
    return loss.dataSync()[0]!;
  });
}

if (process.argv.includes('--infer')) {
  // Inference only (model.predict, batch as given): the serving path's speed.
  const predict = () => tf.tidy(() => (model.predict(x) as tf.Tensor[])[0]!.dataSync());
  predict();
  const p0 = performance.now();
  for (let i = 0; i < steps; i++) predict();
  const per = (performance.now() - p0) / steps;
  console.log(
    `${arch} ${size}x${size} batch ${batch} inference: ${((batch * 1000) / per).toFixed(1)} img/s` +
      ` [${describeBackend()}; load ${os.loadavg()[0]!.toFixed(2)}]`,
  );
  process.exit(0);
}

step(); // warm-up: XNNPACK operators, Adam slots
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
const perStep = (performance.now() - t0) / steps;
console.log(
  `${arch} ${size}x${size} batch ${batch}: ${perStep.toFixed(0)} ms/step, ${((batch * 1000) / perStep).toFixed(1)} img/s` +
    ` [${describeBackend()}, ${arg('optimizer', 'fused')} Adam; load ${os.loadavg()[0]!.toFixed(2)}]`,
);

const info = await tf.profile(() => {
  step();
});
const byKernel = new Map<string, { ms: number; calls: number }>();
const byShape = process.argv.includes('--by-shape');
const byName = new Map<string, number>();
for (const k of info.kernels) {
  if (typeof k.kernelTimeMs === 'number') byName.set(k.name, (byName.get(k.name) ?? 0) + k.kernelTimeMs);
  const key = byShape ? `${k.name} ${k.inputShapes.map((sh) => (sh ?? []).join('x')).join(',')}` : k.name;
  const e = byKernel.get(key) ?? { ms: 0, calls: 0 };
  e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  e.calls += 1;
  byKernel.set(key, e);
}
const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
console.log(`profiled step: ${total.toFixed(0)} ms in kernels`);
for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, byShape ? 40 : 20)) {
  console.log(
    `  ${name.padEnd(byShape ? 70 : 36)} ${e.ms.toFixed(1).padStart(8)} ms  ${String(e.calls).padStart(4)} calls`,
  );
}
if (byShape)
  console.log(
    `by kernel: ${[...byName]
      .sort((a, b) => b[1] - a[1])
      .map(([n, ms]) => `${n} ${ms.toFixed(0)}`)
      .join(', ')}`,
  );
const fellBack = Object.entries(dnnlCallCounts()).filter(([, c]) => c.fallback > 0);
if (fellBack.length)
  console.log(
    `handed back to wasm: ${fellBack.map(([n, c]) => `${n} ${c.fallback}/${c.dnnl + c.fallback}`).join(', ')}`,
  );
