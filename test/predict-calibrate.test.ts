import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  calibrateFaceCrop,
  cropOnCanvas,
  measure,
  median,
  pickCrops,
  readPreprocessSpec,
  writeFaceCrop,
} from '../src/infer/calibrate.js';
import { calibrate } from '../src/api/calibrate.js';
import { loadDetector, type FaceDetector } from '../src/infer/detector.js';
import { cropRegion } from '../src/infer/crop-rule.js';
import { UTKFACE_FACE_CROP } from '../src/infer/predictor.js';
import { ensureBackend } from '../src/infer/tf-backend.js';
import { tempDir, utkfaceDir } from './helpers/fixtures.js';
import { writeTestBundle } from './helpers/predict-bundle.js';
import { runCli } from './helpers/spawn-cli.js';

let detector: FaceDetector;
let dir: string;
let cleanup: () => Promise<void>;

before(async () => {
  await ensureBackend('wasm', 1);
  detector = await loadDetector('ssd-mobilenetv1');
  ({ dir, cleanup } = await tempDir());
});

after(async () => cleanup?.());

test('cropRegion undoes measure: the rule measured from a crop and a box gives back that crop', () => {
  const crop = { x: 40, y: 25, w: 200, h: 200 };
  for (const box of [
    { x: 60, y: 30, w: 150, h: 180 },
    { x: 10, y: 70, w: 90, h: 60 },
  ]) {
    const back = cropRegion(box, measure(crop, box));
    for (const k of ['x', 'y', 'w', 'h'] as const) assert.ok(Math.abs(back[k] - crop[k]) < 1e-9, k);
  }
});

test('calibration on 30 UTKFace crops is sane, reproducible and agrees with the built-in UTKFace rule', async () => {
  const a = await calibrateFaceCrop(detector, { imgDir: utkfaceDir, count: 30 });
  const b = await calibrateFaceCrop(detector, { imgDir: utkfaceDir, count: 30 });
  const r = a.rule;
  assert.equal(r.detector, 'ssd-mobilenetv1');
  assert.equal(r.tried, 30);
  assert.equal(r.samples + a.skipped + a.unreadable, 30);
  assert.ok(r.samples >= 24, `a single face found in only ${r.samples} of 30 crops`);
  // UTKFace crops are aligned faces with a small margin: the crop is about the box's size, centred on it.
  assert.ok(r.scale > 0.9 && r.scale < 1.25, `scale ${r.scale}`);
  assert.ok(Math.abs(r.dx) < 0.1, `dx ${r.dx}`);
  assert.ok(Math.abs(r.dy) < 0.15, `dy ${r.dy}`);
  assert.ok(r.mad!.scale < 0.1, `scale spread ${r.mad!.scale}`);
  // The same crops and detector give the same numbers (only the date differs).
  assert.deepEqual({ ...b.rule, calibratedAt: '' }, { ...r, calibratedAt: '' });
  assert.deepEqual(b.measurements, a.measurements);
  // The rule used for uncalibrated bundles was measured the same way on 500 crops.
  const builtIn = UTKFACE_FACE_CROP['ssd-mobilenetv1'];
  assert.ok(Math.abs(builtIn.scale - r.scale) < 0.05, `built-in scale ${builtIn.scale} vs ${r.scale}`);
  assert.ok(Math.abs(builtIn.dx - r.dx) < 0.05 && Math.abs(builtIn.dy - r.dy) < 0.05);
});

test('the measured crop puts the face where the training crop had it: measurements agree crop by crop', async () => {
  const files = await pickCrops(utkfaceDir, 8);
  const scales: number[] = [];
  for (const f of files) {
    const placed = await cropOnCanvas(f);
    // The crop sits in the middle of a canvas three times its side, with black all around.
    assert.equal(placed.canvas.width, placed.crop.w * 3);
    const found = await detector.detect(placed.canvas);
    if (found.length === 1) scales.push(measure(placed.crop, found[0]!.box).scale);
  }
  assert.ok(scales.length >= 6);
  const m = median(scales);
  for (const s of scales) assert.ok(Math.abs(s - m) / m < 0.25, `scale ${s} far from median ${m}`);
});

test('agegender calibrate (cli -> api) writes faceCrop into preprocess.json atomically and keeps the other fields', async () => {
  const bundle = await writeTestBundle(path.join(dir, 'bundle'), { imageSize: 48 });
  const before = await readPreprocessSpec(bundle);
  assert.equal(before.faceCrop, null);
  const run = await runCli([
    'calibrate',
    '--model-dir',
    bundle,
    '--img-dir',
    utkfaceDir,
    '--count',
    '12',
    '--backend',
    'wasm',
    '--json',
  ]);
  assert.equal(run.code, 0, run.stderr);
  const printed = run.lines;
  const after = await readPreprocessSpec(bundle);
  assert.equal(after.imageSize, 48);
  assert.deepEqual({ ...after, faceCrop: null }, before);
  assert.equal(after.faceCrop!.detector, 'ssd-mobilenetv1');
  assert.equal(after.faceCrop!.tried, 12);
  const report = JSON.parse(printed.at(-1)!);
  assert.deepEqual(report.faceCrop, after.faceCrop);
  // No temp files left beside the bundle's files.
  assert.deepEqual((await fs.readdir(bundle)).sort(), [
    'metrics.json',
    'model.json',
    'preprocess.json',
    'weights.bin',
  ]);
});

test('calibrating a folder that is not a bundle, or holds no images, is a one-line error naming it', async () => {
  await assert.rejects(
    calibrate({ modelDir: dir, imgDir: utkfaceDir, count: 2 }),
    /preprocess\.json: cannot read preprocessing spec/,
  );
  await assert.rejects(
    calibrate({ modelDir: dir, imgDir: utkfaceDir, count: 0 }),
    /^InvalidOptionError: calibrate: option count must be an integer in 1\.\.1000000, not 0$/,
  );
  const empty = path.join(dir, 'empty');
  await fs.mkdir(empty);
  await assert.rejects(calibrateFaceCrop(detector, { imgDir: empty, count: 5 }), /empty: no images/);
  const bundle = await writeTestBundle(path.join(dir, 'b2'));
  await fs.writeFile(path.join(bundle, 'preprocess.json'), '{"format":"something-else"}');
  await assert.rejects(
    writeFaceCrop(bundle, UTKFACE_FACE_CROP['ssd-mobilenetv1']),
    /preprocess\.json: not an agegender preprocess\.json/,
  );
});
