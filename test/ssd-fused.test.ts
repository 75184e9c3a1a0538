import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { before, test } from 'node:test';
import type * as tfTypes from '@tensorflow/tfjs';
import { decodeRgb } from '../src/data/image.js';
import { initBackend } from '../src/engine/backend.js';
import { fusedSsd, type SsdParams } from '../src/infer/ssd-fused.js';
import { makeGroupPhotos } from './helpers/predict-photos.js';

// The fused SSD (src/infer/ssd-fused.ts) must find what face-api's own SsdMobilenetv1 finds, to float
// rounding: same faces, boxes within 0.05 px, scores within 1e-4, on group photos (landscape, so padded)
// and on a portrait crop of one (padded on the other side) at a low threshold that keeps weak boxes too.

type FaceApi = typeof import('@vladmandic/face-api');
const require = createRequire(import.meta.url);
let api: FaceApi;
let tf: typeof tfTypes;

before(async () => {
  await initBackend({ backend: 'wasm', threads: 1, quiet: true });
  api = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
  tf = api.tf as unknown as typeof tfTypes;
  const dir = path.dirname(
    require.resolve('@vladmandic/face-api/model/ssd_mobilenetv1_model-weights_manifest.json'),
  );
  if (!api.nets.ssdMobilenetv1.isLoaded) await api.nets.ssdMobilenetv1.loadFromDisk(dir);
});

test('fused SSD finds the boxes and scores of face-api SsdMobilenetv1', async () => {
  const ssd = fusedSsd(tf, api.nets.ssdMobilenetv1.params as unknown as SsdParams);
  const photos = await makeGroupPhotos(3);
  const images = await Promise.all(photos.map((p) => decodeRgb(p.jpeg)));
  const first = images[0]!;
  const w = Math.round(first.height * 0.6);
  const portrait = { width: w, height: first.height, data: new Uint8Array(w * first.height * 3) };
  for (let y = 0; y < first.height; y++)
    portrait.data.set(first.data.subarray(y * first.width * 3, (y * first.width + w) * 3), y * w * 3);
  let compared = 0;
  for (const img of [...images, portrait]) {
    for (const minConfidence of [0.4, 0.1]) {
      const input = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
      const options = new api.SsdMobilenetv1Options({ minConfidence, maxResults: 100 });
      const want = await api.detectAllFaces(input as never, options);
      input.dispose();
      const got = await ssd.detect(img, minConfidence, 100);
      assert.equal(got.length, want.length, `${img.width}x${img.height} at ${minConfidence}: face count`);
      got.forEach((g, i) => {
        const b = want[i]!.box;
        assert.ok(Math.abs(g.score - want[i]!.score) < 1e-4, `score ${g.score} vs ${want[i]!.score}`);
        for (const [a, e] of [
          [g.box.x, b.x],
          [g.box.y, b.y],
          [g.box.w, b.width],
          [g.box.h, b.height],
        ] as const)
          assert.ok(Math.abs(a - e) < 0.05, `box ${JSON.stringify(g.box)} vs ${JSON.stringify(b)}`);
      });
      compared += got.length;
    }
  }
  assert.ok(compared >= 10, `only ${compared} boxes compared`);
  ssd.dispose();
});

test('SSD weights read from face-api files without face-api are its loaded parameters, exactly', async () => {
  const { promises: fs } = await import('node:fs');
  const { ssdParamsFromWeights } = await import('../src/infer/ssd-weights.js');
  const manifestPath =
    require.resolve('@vladmandic/face-api/model/ssd_mobilenetv1_model-weights_manifest.json');
  const manifest = JSON.parse(await fs.readFile(manifestPath, 'utf8'));
  const files = new Map<string, Uint8Array>();
  for (const g of manifest)
    for (const p of g.paths) files.set(p, await fs.readFile(path.join(path.dirname(manifestPath), p)));
  const ours = ssdParamsFromWeights(tf, manifest, (p) => files.get(p)!);
  let leaves = 0;
  const walk = (a: unknown, b: unknown, at: string): void => {
    if (a instanceof tf.Tensor || b instanceof tf.Tensor) {
      assert.ok(a instanceof tf.Tensor && b instanceof tf.Tensor, at);
      assert.deepEqual(a.shape, b.shape, at);
      assert.deepEqual(a.dataSync(), b.dataSync(), at);
      leaves++;
      return;
    }
    const [ka, kb] = [Object.keys(a as object).sort(), Object.keys(b as object).sort()];
    assert.deepEqual(ka, kb, at);
    for (const k of ka)
      walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}/${k}`);
  };
  walk(ours, api.nets.ssdMobilenetv1.params, 'params');
  assert.ok(leaves > 100, `${leaves} tensors compared`);
});
