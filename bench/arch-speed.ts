/**
 * Training throughput (images/s) of each architecture on cached random tensors, same backend, one run:
 * `npx tsx bench/arch-speed.ts [--size 64] [--batch 32] [--steps 15] [--archs resnet-s,basic-cnn]`.
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { createAdam } from '../src/engine/adam.js';
import { buildModel } from '../src/model/index.js';
import { ageTargets, genderTargets, jointLoss } from '../src/model/losses.js';
import { setupBackend } from '../src/train/backend-setup.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '64' },
    batch: { type: 'string', default: '32' },
    steps: { type: 'string', default: '15' },
    archs: { type: 'string', default: 'resnet-s,resnet-xs,basic-cnn' },
    backend: { type: 'string', default: 'auto' },
    threads: { type: 'string' },
  },
});
const size = Number(values.size);
const batch = Number(values.batch);
const steps = Number(values.steps);
await setupBackend(values.backend as 'auto', values.threads ? Number(values.threads) : undefined);
console.log(
  `backend ${tf.getBackend()}, ${size}x${size}, batch ${batch}, ${values.threads ?? 'default'} threads`,
);
const x = tf.randomNormal([batch, size, size, 3]);
const ages = Int32Array.from({ length: batch }, (_, i) => (i * 7) % 90);
const ageT = tf.tensor2d(ageTargets(ages, 2), [batch, 101]);
const genderT = tf.tensor2d(genderTargets(ages.map((a) => a % 2)), [batch, 2]);
for (const arch of values.archs!.split(',')) {
  const model = buildModel(arch, { imageSize: size, seed: 1 });
  const opt = createAdam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const step = () =>
    tf.tidy(() =>
      opt
        .minimize(
          () => {
            const [a, g] = model.apply(x, { training: true }) as tf.Tensor2D[];
            return jointLoss(a!, g!, ageT, genderT);
          },
          true,
          vars,
        )!
        .dataSync(),
    );
  step();
  step();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) step();
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // CPU time per image is steadier than img/s on a machine shared with other jobs.
  const cpuMsPerImg = (cpu.user + cpu.system) / 1000 / (steps * batch);
  const t1 = performance.now();
  for (let i = 0; i < steps; i++) tf.tidy(() => (model.predict(x) as tf.Tensor[])[0]!.dataSync());
  const inf = (performance.now() - t1) / 1000;
  console.log(
    `${arch.padEnd(10)} ${(model.countParams() / 1e6).toFixed(2)}M params | train ${((steps * batch) / secs).toFixed(1)} img/s (${cpuMsPerImg.toFixed(1)} CPU ms/img) | ` +
      `inference ${((steps * batch) / inf).toFixed(1)} img/s`,
  );
  model.dispose();
  opt.dispose();
}
