/**
 * Where the time of one training step goes, kernel by kernel (tf.profile), for one architecture on the
 * wasm backend: `npx tsx bench/arch-profile.ts resnet-s [batch]`. Used to find the slow kernels
 * (e.g. the tile in batch norm's gradient, see src/engine/batchnorm-grad.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { createAdam } from '../src/engine/adam.js';
import { buildModel } from '../src/model/index.js';
import { ageTargets, genderTargets, jointLoss } from '../src/model/losses.js';
import { setupBackend } from '../src/train/backend-setup.js';
await setupBackend('wasm');
const [arch, bs] = [process.argv[2]!, Number(process.argv[3] ?? 32)];
const size = 64;
const x = tf.randomNormal([bs, size, size, 3]);
const ages = Int32Array.from({ length: bs }, (_, i) => (i * 7) % 90);
const ageT = tf.tensor2d(ageTargets(ages, 2), [bs, 101]);
const genderT = tf.tensor2d(genderTargets(ages.map((a) => a % 2)), [bs, 2]);
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
const prof = await tf.profile(() => {
  step();
});
const agg = new Map<string, { ms: number; n: number }>();
let total = 0;
for (const k of prof.kernels) {
  const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  const key =
    k.name + ' ' + JSON.stringify(k.inputShapes?.[0] ?? []) + ' ' + JSON.stringify(k.inputShapes?.[1] ?? []);
  const a = agg.get(key) ?? { ms: 0, n: 0 };
  a.ms += ms;
  a.n++;
  agg.set(key, a);
  total += ms;
}
const byName = new Map<string, number>();
for (const k of prof.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + (k.kernelTimeMs as number));
console.log('total kernel ms', total.toFixed(0), 'kernels', prof.kernels.length);
console.log(
  [...byName]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join('\n'),
);
console.log('---');
console.log(
  [...agg]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 15)
    .map(([k, v]) => `${v.ms.toFixed(0)}ms x${v.n} ${k}`)
    .join('\n'),
);
