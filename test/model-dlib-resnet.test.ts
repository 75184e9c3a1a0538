import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadResized, normalizeInto } from '../src/data/image.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { initBackend } from '../src/engine/backend.js';
import { loadLayersModelFromDir, saveLayersModelToDir } from '../src/engine/model-io.js';
import { dlibDescriptorMatrix, dlibWeightFiles } from '../src/model/backbones/dlib-resnet-layers.js';
import { DLIB_RESNET } from '../src/model/backbones/dlib-resnet.js';
import { ageGenderHeads } from '../src/model/heads.js';
import { pickUtkface, tempDir, utkfaceDir } from './helpers/fixtures.js';

const S = DLIB_RESNET.inputSize;

describe('dlib face-recognition ResNet as tfjs layers', () => {
  let pixels: Uint8Array[];
  let x: tf.Tensor4D;
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
    const spec = defaultPreprocessSpec(S);
    pixels = await Promise.all(
      pickUtkface(4, 7).map((s) => loadResized(path.join(utkfaceDir, s.file), spec)),
    );
    const buf = new Float32Array(4 * S * S * 3);
    pixels.forEach((p, i) => normalizeInto(p, DLIB_RESNET.normalization, S, buf, i * S * S * 3));
    x = tf.tensor4d(buf, [4, S, S, 3]);
  });

  it("gives face-api's own FaceRecognitionNet descriptors", async () => {
    const { trunk, tail } = await DLIB_RESNET.build();
    const image = tf.input({ shape: [S, S, 3] });
    const model = tf.model({ inputs: image, outputs: tail(trunk(image)) });
    const fc = await dlibDescriptorMatrix();
    const ours = tf.matMul(model.predict(x) as tf.Tensor2D, fc);
    const require = createRequire(import.meta.url);
    const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
    await faceapi.nets.faceRecognitionNet.loadFromDisk(path.dirname(dlibWeightFiles().bin));
    const inputs = pixels.map((p) => tf.tensor3d(Int32Array.from(p), [S, S, 3], 'int32'));
    const ref = (await faceapi.nets.faceRecognitionNet.forward(inputs)) as tf.Tensor2D;
    const maxDiff = tf.max(tf.abs(tf.sub(ours, ref))).dataSync()[0]!;
    const norm = tf.mean(tf.norm(ref, 2, 1)).dataSync()[0]!;
    assert.ok(norm > 0.5, `descriptors are not trivial (mean norm ${norm})`);
    assert.ok(maxDiff < 1e-4, `max |ours - face-api| = ${maxDiff}`);
    // Different faces give different descriptors (the net is not constant).
    const d01 = tf.norm(tf.sub(ref.slice([0, 0], [1, -1]), ref.slice([1, 0], [1, -1]))).dataSync()[0]!;
    assert.ok(d01 > 0.1, `distance between two faces ${d01}`);
    tf.dispose([ours, ref, fc, ...inputs]);
  });

  it('with heads, saves as a plain layers model that reloads with the same outputs', async () => {
    const { trunk, tail } = await DLIB_RESNET.build();
    const heads = ageGenderHeads({ hidden: 16, dropout: 0.2, seed: 3 });
    const image = tf.input({ shape: [S, S, 3] });
    const model = tf.model({ inputs: image, outputs: heads(tail(trunk(image))) });
    const { dir, cleanup } = await tempDir();
    try {
      await saveLayersModelToDir(model, dir);
      const back = await loadLayersModelFromDir(dir);
      assert.deepEqual(back.outputNames, ['age', 'gender']);
      const [a0, g0] = model.predict(x) as tf.Tensor[];
      const [a1, g1] = back.predict(x) as tf.Tensor[];
      assert.deepEqual(a1!.shape, [4, 101]);
      assert.ok(tf.max(tf.abs(tf.sub(a0!, a1!))).dataSync()[0]! < 1e-5);
      assert.ok(tf.max(tf.abs(tf.sub(g0!, g1!))).dataSync()[0]! < 1e-5);
    } finally {
      await cleanup();
    }
  });
});
