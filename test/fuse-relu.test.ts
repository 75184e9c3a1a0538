import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type * as tfTypes from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend.js';
import { loadLayersModelFromDir } from '../src/engine/model-io.js';
import { tf } from '../src/engine/tfjs.js';
import { defaultModelDir } from '../src/infer/predictor.js';

// Loading for inference moves each ReLU that follows a convolution into it (src/engine/fuse-relu.ts):
// the default model must answer the same, with 15 fewer Relu kernels per forward.

before(async () => {
  await initBackend({ backend: 'wasm', threads: 1, quiet: true });
});

async function run(model: tfTypes.LayersModel, x: tfTypes.Tensor) {
  let out: Float32Array[] = [];
  const info = await tf.profile(async () => {
    const ys = model.predict(x) as tfTypes.Tensor[];
    out = (await Promise.all(ys.map((y) => y.data()))) as Float32Array[];
    tf.dispose(ys);
  });
  return { out, relus: info.kernels.filter((k) => k.name === 'Relu').length };
}

test('the default model loaded for inference runs fused ReLUs and answers the same', async () => {
  const plain = await loadLayersModelFromDir(defaultModelDir());
  const fused = await loadLayersModelFromDir(defaultModelDir(), { inference: true });
  const x = tf.randomUniform([2, 150, 150, 3], -0.5, 0.5, 'float32', 7);
  const a = await run(plain, x);
  const b = await run(fused, x);
  assert.equal(a.relus - b.relus, 15, `Relu kernels: ${a.relus} plain, ${b.relus} fused`);
  a.out.forEach((o, i) =>
    o.forEach((v, k) =>
      assert.ok(Math.abs(v - b.out[i]![k]!) <= 1e-6, `output ${i}[${k}]: ${v} vs ${b.out[i]![k]}`),
    ),
  );
  tf.dispose(x);
  plain.dispose();
  fused.dispose();
});
