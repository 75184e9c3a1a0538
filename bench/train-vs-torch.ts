/**
 * Our side of bench/train-vs-torch.sh: img/s of training steps (forward, backward, Adam) of the seed
 * network `basic-cnn`, of `resnet-xs` (buildModel from src/model), or of `dlib-resnet`: the default model's
 * network end to end at 150 px as finetune's full phase trains it (buildAgeGenderNet with the dlib backbone
 * and finetune's default heads recipe, jointTrainStep with its soft age targets; --sizes is ignored) on our engine (wasm + our kernels + threads, and
 * oneDNN's convolutions and matmuls with `--backend auto` when libdnnl is installed), with the
 * optimizer the trainer uses (createAdam: tf.train.adam's arithmetic, one fused kernel per variable).
 *
 *   npx tsx bench/train-vs-torch.ts [--arch basic-cnn|resnet-xs|dlib-resnet] --sizes 64,128 --batch 32 --steps 6 [--threads N]
 *     [--backend auto|wasm+dnnl|wasm] [--precision f32|bf16]
 *
 * Prints one JSON line per size: {"size", "batch", "img_s", "ms_step", "cpu_ms_img", "backend", "precision"}.
 */
import * as tf from '@tensorflow/tfjs';
import { createAdam } from '../src/engine/adam.js';
import { type BackendChoice, type Precision, describeBackend, initBackend } from '../src/engine/backend.js';
import { buildAgeGenderNet } from '../src/model/agegender-net.js';
import { BACKBONES } from '../src/model/backbones/index.js';
import { buildModel } from '../src/model/index.js';
import { FINETUNE_OPTIONS } from '../src/train/finetune/options.js';
import { jointTrainStep } from '../src/train/step.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
}
const arch = arg('arch', 'basic-cnn') as 'basic-cnn' | 'resnet-xs' | 'dlib-resnet';

const sizes = arch === 'dlib-resnet' ? [150] : arg('sizes', '64,128').split(',').map(Number);
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

/** finetune's full phase: the served image model (backbone + the heads ensemble), default recipe. */
async function dlibNet(): Promise<tf.LayersModel> {
  const d = (k: keyof typeof FINETUNE_OPTIONS) => (FINETUNE_OPTIONS[k] as { default: unknown }).default;
  const net = await buildAgeGenderNet(BACKBONES['dlib-resnet'], {
    features: d('features') as 'fine',
    hidden: d('hidden') as number,
    dropout: d('dropout') as number,
    seed: 1,
    ensemble: d('ensemble') as number,
  });
  return net.image;
}

for (const size of sizes) {
  const model = arch === 'dlib-resnet' ? await dlibNet() : buildModel(arch, { imageSize: size, seed: 1 });
  const optimizer = createAdam(1e-3);
  const x = tf.randomNormal([batch, size, size, 3]);
  const ageT = tf.oneHot(tf.randomUniform([batch], 0, 101, 'int32'), 101);
  const genderT = tf.oneHot(tf.randomUniform([batch], 0, 2, 'int32'), 2);
  // dlib-resnet: the full phase's own step (soft age targets, sigma as finetune's default).
  const xs = arch === 'dlib-resnet' ? (x.dataSync() as Float32Array) : null;
  const ages = Int32Array.from({ length: batch }, (_, i) => (i * 37) % 101);
  const genders = Int32Array.from({ length: batch }, (_, i) => i % 2);
  const ageSigma = (FINETUNE_OPTIONS.ageSigma as { default: number }).default;
  const step = () =>
    xs
      ? jointTrainStep(model, optimizer, { x: xs, shape: [size, size, 3], ages, genders }, { ageSigma })
      : tf.tidy(() => {
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
