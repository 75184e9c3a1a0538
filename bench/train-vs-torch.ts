/**
 * Our side of bench/train-vs-torch.sh: img/s of training steps (forward, backward, Adam) of the seed
 * network `basic-cnn`, or of `resnet-xs` (buildModel from src/model) on our engine (wasm + our kernels + threads, and
 * oneDNN's convolutions and matmuls with `--backend auto` when libdnnl is installed), with the
 * optimizer the trainer uses (createAdam: tf.train.adam's arithmetic, one fused kernel per variable).
 *
 *   npx tsx bench/train-vs-torch.ts [--arch basic-cnn|resnet-xs] --sizes 64,128 --batch 32 --steps 6 [--threads N]
 *     [--backend auto|wasm+dnnl|wasm] [--precision f32|bf16]
 *
 * Prints one JSON line per size: {"size", "batch", "img_s", "ms_step", "cpu_ms_img", "backend", "precision"}.
 */
import * as tf from '@tensorflow/tfjs';
import { createAdam } from '../src/engine/adam.js';
import { type BackendChoice, type Precision, describeBackend, initBackend } from '../src/engine/backend.js';
import { buildModel } from '../src/model/index.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
}
const arch = arg('arch', 'basic-cnn') as 'basic-cnn' | 'resnet-xs';

const sizes = arg('sizes', '64,128').split(',').map(Number);
const batch = Number(arg('batch', '32'));
const steps = Number(arg('steps', '6'));
const threads = arg('threads', '');
const backend = arg('backend', 'auto') as BackendChoice;
const precision = arg('precision', 'f32') as Precision;

const info = await initBackend({
  backend,
  precision,
  threads: threads ? Number(threads) : undefined,
  quiet: true,
});

for (const size of sizes) {
  const model = buildModel(arch, { imageSize: size, seed: 1 });
  const optimizer = createAdam(1e-3);
  const x = tf.randomNormal([batch, size, size, 3]);
  const ageT = tf.oneHot(tf.randomUniform([batch], 0, 101, 'int32'), 101);
  const genderT = tf.oneHot(tf.randomUniform([batch], 0, 2, 'int32'), 2);
  const step = () =>
    tf.tidy(() => {
      const loss = optimizer.minimize(() => {
        const [a, g] = model.apply(x, { training: true }) as tf.Tensor[];
        return tf.div(
          tf.add(tf.losses.softmaxCrossEntropy(ageT, a!), tf.losses.softmaxCrossEntropy(genderT, g!)),
          2,
        ) as tf.Scalar;
      }, true)!;
      return loss.dataSync()[0]!;
    });
  step();
  step();
  const t0 = performance.now();
  const c0 = process.cpuUsage(); // CPU time of all threads (wasm workers and oneDNN's included)
  for (let i = 0; i < steps; i++) step();
  const sec = (performance.now() - t0) / 1000 / steps;
  const cpu = process.cpuUsage(c0);
  console.log(
    JSON.stringify({
      arch,
      size,
      batch,
      img_s: +(batch / sec).toFixed(2),
      ms_step: +(sec * 1000).toFixed(1),
      cpu_ms_img: +((cpu.user + cpu.system) / 1000 / steps / batch).toFixed(2),
      backend: describeBackend(),
      precision: info.precision,
    }),
  );
  tf.dispose([x, ageT, genderT]);
  optimizer.dispose();
  model.dispose();
}
