/**
 * Where a training step's time goes on our engine: img/s of forward+backward+Adam steps of a
 * `buildModel` architecture, then as many timed steps with each kernel's wall and CPU time per step (largest
 * first) and how many threads it kept busy (CPU / wall), beside the time outside kernels (tfjs, layers, tape):
 * on 2 cores, what runs on one thread while the other idles is what keeps the step from twice the speed.
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
const msStep = (performance.now() - t0) / steps;
console.log(
  `${arch} ${size}x${size} batch ${batch}: ${msStep.toFixed(0)} ms/step, ${((batch * 1000) / msStep).toFixed(1)} img/s` +
    ` [${describeBackend()}, ${arg('optimizer', 'fused')} Adam; load ${os.loadavg()[0]!.toFixed(2)}]`,
);

// Every kernel timed in wall and CPU time (all threads): their ratio is how many threads it kept busy.
// Nested calls (a oneDNN kernel handing a call back to wasm) count in the outer one.
const clock = new Map<string, { wall: number; cpu: number; calls: number }>();
const byShape = process.argv.includes('--by-shape');
let depth = 0;
for (const k of tf.getKernelsForBackend(tf.getBackend())) {
  const run = k.kernelFunc;
  (k as { kernelFunc: typeof run }).kernelFunc = (args) => {
    if (depth > 0) return run(args);
    depth++;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    try {
      return run(args);
    } finally {
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      depth--;
      const shapes = Object.values(args.inputs).map(
        (t) => (t as tf.TensorInfo | undefined)?.shape.join('x') ?? '-',
      );
      const key = byShape ? `${k.kernelName} ${shapes.join(',')}` : k.kernelName;
      const e = clock.get(key) ?? { wall: 0, cpu: 0, calls: 0 };
      e.wall += wall;
      e.cpu += (c.user + c.system) / 1000;
      e.calls++;
      clock.set(key, e);
    }
  };
}
const c0 = process.cpuUsage();
const t1 = performance.now();
for (let i = 0; i < steps; i++) step();
const wall = (performance.now() - t1) / steps;
const c = process.cpuUsage(c0);
const cpu = (c.user + c.system) / 1000 / steps;
const inKernels = [...clock.values()].reduce(
  (a, e) => ({ wall: a.wall + e.wall / steps, cpu: a.cpu + e.cpu / steps, calls: a.calls + e.calls / steps }),
  { wall: 0, cpu: 0, calls: 0 },
);
const row = (name: string, e: { wall: number; cpu: number; calls: number }) =>
  console.log(
    `  ${name.padEnd(byShape ? 70 : 36)} ${e.wall.toFixed(2).padStart(8)} ms ${e.cpu.toFixed(2).padStart(8)} ms` +
      ` ${(e.cpu / e.wall).toFixed(2).padStart(7)} ${String(+e.calls.toFixed(1)).padStart(6)}`,
  );
console.log(
  `per step, timed: ${wall.toFixed(1)} ms wall, ${cpu.toFixed(1)} ms CPU (${(cpu / wall).toFixed(2)} threads busy)`,
);
console.log(`  ${'kernel'.padEnd(byShape ? 70 : 36)}     wall        CPU  threads  calls`);
row('(all kernels)', inKernels);
row('(outside kernels: tfjs, layers, tape)', {
  wall: wall - inKernels.wall,
  cpu: cpu - inKernels.cpu,
  calls: 0,
});
const perStep = (e: { wall: number; cpu: number; calls: number }) => ({
  wall: e.wall / steps,
  cpu: e.cpu / steps,
  calls: e.calls / steps,
});
for (const [name, e] of [...clock].sort((a, b) => b[1].wall - a[1].wall).slice(0, byShape ? 40 : 20))
  row(name, perStep(e));
const fellBack = Object.entries(dnnlCallCounts()).filter(([, c]) => c.fallback > 0);
if (fellBack.length)
  console.log(
    `handed back to wasm: ${fellBack.map(([n, c]) => `${n} ${c.fallback}/${c.dnnl + c.fallback}`).join(', ')}`,
  );
