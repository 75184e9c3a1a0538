import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { turboJpeg } from '../src/data/jpeg-turbo.js';
import { cropRegion, iou } from '../src/infer/crop-rule.js';
import { Predictor } from '../src/infer/predictor.js';
import type { Box } from '../src/infer/types.js';
import { pickUtkface, tempDir, utkfaceDir } from './helpers/fixtures.js';
import { writeTestBundle } from './helpers/predict-bundle.js';
import { makeGroupPhotos, type GroupPhoto } from './helpers/predict-photos.js';

// Detection on "group photos": 4 composites of 3-4 real UTKFace crops (64-232 px) on noisy / plain
// backgrounds. A detected face counts as one of the pasted crops when the detector's box, mapped through
// the calibrated crop rule, overlaps that crop with IoU >= 0.5.

let predictor: Predictor;
let photos: GroupPhoto[];
let cleanup: () => Promise<void>;

before(async () => {
  const t = await tempDir();
  cleanup = t.cleanup;
  predictor = await Predictor.load({ modelDir: await writeTestBundle(`${t.dir}/bundle`), threads: 1 });
  photos = await makeGroupPhotos(4);
});

after(async () => {
  predictor?.dispose();
  await cleanup?.();
});

function match(found: Box[], placed: Box[]): { matched: number; unmatched: number; ious: number[] } {
  const used = new Set<number>();
  const ious: number[] = [];
  for (const p of placed) {
    let best = -1;
    let bestIou = 0.5;
    found.forEach((f, k) => {
      const v = iou(f, p);
      if (!used.has(k) && v >= bestIou) [best, bestIou] = [k, v];
    });
    if (best >= 0) {
      used.add(best);
      ious.push(bestIou);
    }
  }
  return { matched: used.size, unmatched: found.length - used.size, ious };
}

test('finds the pasted faces in group photos, at the right places, and nothing else', async () => {
  const results = await predictor.predictBatch(photos.map((p) => p.jpeg));
  let placed = 0;
  let matched = 0;
  let unmatched = 0;
  const ious: number[] = [];
  for (const [i, photo] of photos.entries()) {
    const regions = results[i]!.map((f) => cropRegion(f.box, predictor.faceCrop));
    const m = match(
      regions,
      photo.faces.map((f) => f.region),
    );
    placed += photo.faces.length;
    matched += m.matched;
    unmatched += m.unmatched;
    ious.push(...m.ious);
    for (const f of results[i]!) {
      // Reported boxes are whole pixels inside the photo.
      assert.ok(Number.isInteger(f.box.x) && Number.isInteger(f.box.w));
      assert.ok(
        f.box.x >= 0 && f.box.y >= 0 && f.box.x + f.box.w <= photo.width && f.box.y + f.box.h <= photo.height,
      );
      assert.ok(f.score >= 0.4 && f.score <= 1);
    }
  }
  assert.equal(placed, 14);
  assert.ok(matched >= 12, `found ${matched} of ${placed} faces`);
  assert.equal(unmatched, 0, 'detections that are not a pasted face');
  const meanIou = ious.reduce((a, b) => a + b, 0) / ious.length;
  // The calibrated crop frames a found face like its training crop, not just roughly where it is.
  assert.ok(meanIou >= 0.7, `mean IoU of the calibrated crops with the pasted crops: ${meanIou.toFixed(3)}`);
});

test('faces are listed left to right and each gets its own answer', async () => {
  const [faces] = await predictor.predictBatch([photos[1]!.jpeg]);
  assert.ok(faces!.length >= 3);
  for (let i = 1; i < faces!.length; i++) assert.ok(faces![i]!.box.x > faces![i - 1]!.box.x);
  // The untrained test model still sees different pixels for different faces.
  assert.ok(new Set(faces!.map((f) => f.pMale)).size > 1);
});

test('a photo without faces gives an empty list, not an error', async () => {
  const { data, info } = await sharp(photos[0]!.jpeg).raw().toBuffer({ resolveWithObject: true });
  // The same noisy background with every pasted face painted over.
  const blank = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
    .composite(
      photos[0]!.faces.map((f) => ({
        input: { create: { width: f.region.w, height: f.region.h, channels: 3, background: '#708090' } },
        left: f.region.x,
        top: f.region.y,
      })),
    )
    .png()
    .toBuffer();
  assert.deepEqual(await predictor.predict(blank), []);
});

test('a higher --min-score keeps a subset of the faces', async () => {
  const loose = await predictor.predict(photos[2]!.jpeg, { minScore: 0.3 });
  const strict = await predictor.predict(photos[2]!.jpeg, { minScore: 0.95 });
  assert.ok(strict.length <= loose.length);
  for (const f of strict) assert.ok(f.score >= 0.95);
});

test('a face that fills the whole image (an already-cropped face) is still found, inside the image', async () => {
  const crops = pickUtkface(10, 11).map((s) => path.join(utkfaceDir, s.file));
  const results = await predictor.predictBatch(crops);
  const found = results.filter((faces) => faces.length === 1);
  // Without the second, black-bordered pass SSD finds only about a quarter of these.
  assert.ok(found.length >= 8, `found a face in ${found.length} of 10 crops`);
  assert.ok(results.every((faces) => faces.length <= 1));
  for (const [face] of found) {
    assert.ok(
      face!.box.x >= 0 &&
        face!.box.y >= 0 &&
        face!.box.x + face!.box.w <= 200 &&
        face!.box.y + face!.box.h <= 200,
    );
    // The face is most of a UTKFace crop.
    assert.ok(face!.box.w > 100 && face!.box.h > 100, JSON.stringify(face!.box));
  }
});

test(
  "plain JPEGs decoded by libturbojpeg and crops shrunk by the port give sharp's very crops and answers",
  { skip: turboJpeg() ? false : 'libturbojpeg0 is not installed' },
  async () => {
    const answers = async (jpeg: string) => {
      process.env.AGEGENDER_JPEG = jpeg;
      try {
        // The UTKFace crops are found in the margin pass (a resize too); the photos' faces shrink or enlarge.
        const inputs = [...photos.map((p) => p.jpeg), path.join(utkfaceDir, pickUtkface(1, 12)[0]!.file)];
        return await predictor.predictBatch(inputs, { crop: true });
      } finally {
        delete process.env.AGEGENDER_JPEG;
      }
    };
    const [fast, slow] = [await answers(''), await answers('sharp')];
    assert.equal(fast.flat().length, slow.flat().length);
    fast.flat().forEach((face, k) => {
      const other = slow.flat()[k]!;
      assert.ok(Buffer.from(face.crop!.data).equals(Buffer.from(other.crop!.data)), `crop ${k} differs`);
      assert.deepEqual({ ...face, crop: null }, { ...other, crop: null });
    });
  },
);
