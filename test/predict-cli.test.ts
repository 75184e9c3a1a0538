import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { loadResized, standardize } from '../src/data/image.js';
import { loadLayersModelFromDir } from '../src/engine/model-io.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { formatLabel } from '../src/infer/types.js';
import { FACE_SCHEMA } from '../src/api/face-schema.js';
import { Ajv } from 'ajv';
import { pickUtkface, tempDir, utkfaceDir } from './helpers/fixtures.js';
import { writeTestBundle } from './helpers/predict-bundle.js';
import { makeGroupPhotos } from './helpers/predict-photos.js';
import { runCli } from './helpers/spawn-cli.js';

// `agegender predict` through the real command line (spawned from source), on an untrained test bundle.

let dir: string;
let bundle: string;
let cleanup: () => Promise<void>;
let group: string[];
let noFace: string;
const crop = path.join(utkfaceDir, pickUtkface(1, 3)[0]!.file);

before(async () => {
  ({ dir, cleanup } = await tempDir());
  bundle = await writeTestBundle(path.join(dir, 'bundle'));
  const photos = await makeGroupPhotos(2);
  await fs.mkdir(path.join(dir, 'photos'));
  group = [];
  for (const [i, p] of photos.entries()) {
    group.push(path.join(dir, 'photos', `group${i}.jpg`));
    await fs.writeFile(group[i]!, p.jpeg);
  }
  // A folder may hold other files: they are not images and are left alone.
  await fs.writeFile(path.join(dir, 'photos', 'README.txt'), 'not a photo');
  noFace = path.join(dir, 'empty.png');
  await sharp({ create: { width: 320, height: 240, channels: 3, background: '#5a7d9a' } })
    .png()
    .toFile(noFace);
});

after(async () => cleanup?.());

const FACE_LINE = /^(.+)  face (\d+)  ([MF])\/(\d+)  \(box (\d+),(\d+),(\d+),(\d+)\)$/;

test('text output: one line per face, "no face found" for an empty photo, exit 0', async () => {
  const run = await runCli(['predict', path.join(dir, 'photos'), noFace, '--model-dir', bundle]);
  assert.equal(run.code, 0, run.stderr);
  const faceLines = run.lines.filter((l) => FACE_LINE.test(l));
  assert.equal(faceLines.length, run.lines.length - 1);
  assert.equal(run.lines.at(-1), `${noFace}  no face found`);
  // Files in the order given (a folder: sorted), faces numbered from 1 within each file.
  const files = faceLines.map((l) => FACE_LINE.exec(l)![1]);
  assert.deepEqual([...new Set(files)], group);
  assert.ok(files.filter((f) => f === group[0]).length >= 2);
  for (const file of group) {
    const nums = faceLines.filter((l) => l.startsWith(file + ' ')).map((l) => Number(FACE_LINE.exec(l)![2]));
    assert.deepEqual(
      nums,
      nums.map((_, i) => i + 1),
    );
  }
  // The uncalibrated bundle is pointed out once, on stderr.
  assert.equal(run.stderr.match(/no face crop calibrated/g)?.length, 1);
});

test('--json: every line says what it is; face lines follow the face JSON Schema', async () => {
  const missing = path.join(dir, 'missing.jpg');
  const run = await runCli(['predict', group[0]!, noFace, missing, '--json', '--model-dir', bundle]);
  assert.equal(run.code, 1, run.stderr);
  const rows = run.lines.map((l) => JSON.parse(l));
  const validFace = new Ajv({ strict: true }).compile(FACE_SCHEMA);
  const faces = rows.filter((r) => r.type === 'face');
  assert.ok(faces.length >= 2);
  faces.forEach((r, i) => {
    const { type, file, index, ...face } = r;
    assert.deepEqual([type, file, index], ['face', group[0], i + 1]);
    assert.ok(validFace(face), JSON.stringify(validFace.errors));
    for (const k of ['x', 'y', 'w', 'h']) assert.ok(Number.isInteger(r.box[k]) && r.box[k] >= 0);
    assert.ok(Math.abs(r.pMale + r.pFemale - 1) < 1e-3);
    assert.equal(r.gender, r.pMale >= 0.5 ? 'M' : 'F');
    assert.equal(r.label, formatLabel(r.gender, r.age));
  });
  assert.deepEqual(
    rows.filter((r) => r.type !== 'face'),
    [
      { type: 'error', file: missing, error: `${missing}: no such file` },
      { type: 'no_face', file: noFace },
    ],
  );
  assert.deepEqual(new Set(rows.map((r) => r.type)), new Set(['face', 'no_face', 'error']));
});

test('usage errors exit 2: an unknown flag, a bad choice, a missing argument', async () => {
  for (const args of [
    ['predict', crop, '--no-such-flag'],
    ['predict', crop, '--detector', 'yolo'],
    ['predict'],
    ['calibrate', '--img-dir', dir],
  ]) {
    const run = await runCli(args);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.equal(run.stdout, '');
  }
});

test('--no-detect: the whole image is one face, with the numbers a direct reading of the model gives', async () => {
  const run = await runCli(['predict', crop, '--no-detect', '--json', '--model-dir', bundle]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.lines.length, 1);
  const r = JSON.parse(run.lines[0]!);
  assert.deepEqual(r.box, { x: 0, y: 0, w: 200, h: 200 });
  assert.equal(r.score, 1);
  // Reference: the model on the pure-JS cpu backend, softmax and DEX computed here by hand.
  await tf.setBackend('cpu');
  const model = await loadLayersModelFromDir(bundle);
  const spec = defaultPreprocessSpec(64);
  const x = new Float32Array(64 * 64 * 3);
  standardize(await loadResized(crop, spec), 64, x);
  const [ageLogits, genderLogits] = (model.predict(tf.tensor4d(x, [1, 64, 64, 3])) as tf.Tensor[]).map((t) =>
    Array.from(t.dataSync()),
  );
  const softmax = (v: number[]) => {
    const m = Math.max(...v);
    const e = v.map((z) => Math.exp(z - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((z) => z / s);
  };
  const p = softmax(ageLogits!);
  const age = p.reduce((a, pi, i) => a + pi * i, 0);
  const spread = Math.sqrt(p.reduce((a, pi, i) => a + pi * (i - age) ** 2, 0));
  const pMale = softmax(genderLogits!)[1]!;
  assert.ok(Math.abs(r.age - age) < 0.02, `age ${r.age} vs ${age}`);
  assert.ok(Math.abs(r.ageSpread - spread) < 0.02, `spread ${r.ageSpread} vs ${spread}`);
  assert.ok(Math.abs(r.pMale - pMale) < 1e-3, `pMale ${r.pMale} vs ${pMale}`);
  model.dispose();
});

test('bad files: a one-line error naming each, the good files still answered, exit status 1', async () => {
  const txt = path.join(dir, 'notes.txt');
  await fs.writeFile(txt, 'these are not pixels\n');
  const truncated = path.join(dir, 'truncated.jpg');
  await fs.writeFile(truncated, (await fs.readFile(group[0]!)).subarray(0, 3000));
  const missing = path.join(dir, 'missing.jpg');
  const run = await runCli(['predict', txt, group[1]!, truncated, missing, crop, '--model-dir', bundle]);
  assert.equal(run.code, 1);
  const errors = run.stderr.split('\n').filter((l) => l.startsWith('agegender: ') && !l.includes('warning'));
  assert.equal(errors.length, 3, run.stderr);
  assert.match(
    errors.find((l) => l.includes(txt))!,
    /notes\.txt: not a readable image: /,
  );
  assert.match(
    errors.find((l) => l.includes(truncated))!,
    /truncated\.jpg: not a readable image: /,
  );
  assert.match(
    errors.find((l) => l.includes(missing))!,
    /missing\.jpg: no such file/,
  );
  assert.ok(run.lines.some((l) => l.startsWith(`${group[1]}  face 1  `)));
  // The UTKFace crop itself, detected inside its own 200x200 frame.
  assert.ok(run.lines.some((l) => l.startsWith(`${crop}  `)));
  assert.ok(!run.stdout.includes('notes.txt') && !run.stdout.includes('truncated.jpg'));
});

test('--annotate: boxes drawn on the photo; a directory of annotated copies for several inputs', async () => {
  const out = path.join(dir, 'annotated.png');
  let run = await runCli(['predict', group[0]!, '--annotate', out, '--model-dir', bundle]);
  assert.equal(run.code, 0, run.stderr);
  const meta = await sharp(out).metadata();
  assert.equal(meta.format, 'png');
  assert.deepEqual([meta.width, meta.height], [960, 640]);
  // The pixels under the first box's left edge changed (a drawn line), far away from it they did not.
  const box = FACE_LINE.exec(run.lines[0]!)!.slice(5, 9).map(Number) as [number, number, number, number];
  const before = await sharp(group[0]!).raw().toBuffer();
  const drawn = await sharp(out).removeAlpha().raw().toBuffer();
  const at = (x: number, y: number) => (y * 960 + x) * 3;
  const diff = (i: number) => Math.abs(before[i]! - drawn[i]!) + Math.abs(before[i + 2]! - drawn[i + 2]!);
  assert.ok(diff(at(box[0] + 1, box[1] + Math.round(box[3] / 2))) > 60, 'box edge not drawn');
  const outDir = path.join(dir, 'annotated');
  run = await runCli(['predict', ...group, noFace, '--annotate', outDir, '--model-dir', bundle]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual((await fs.readdir(outDir)).sort(), ['empty.png', 'group0.jpg', 'group1.jpg']);
});

test('--annotate replaces only copies it wrote: a file of the user under that name is refused and kept', async () => {
  const out = path.join(dir, 'again.jpg');
  let run = await runCli(['predict', group[0]!, '--annotate', out, '--model-dir', bundle]);
  assert.equal(run.code, 0, run.stderr);
  // Annotating again over its own copy works.
  run = await runCli(['predict', group[0]!, '--annotate', out, '--model-dir', bundle]);
  assert.equal(run.code, 0, run.stderr);
  // A photo of the user's (any file agegender did not write) under the target name is never replaced.
  const precious = path.join(dir, 'precious.jpg');
  await fs.copyFile(group[1]!, precious);
  const before = await fs.readFile(precious);
  run = await runCli(['predict', group[0]!, '--annotate', precious, '--model-dir', bundle]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /precious\.jpg exists and was not written by agegender/);
  assert.deepEqual(await fs.readFile(precious), before);
});

test('a model folder that is not a bundle: one line naming the file, exit status 1', async () => {
  const run = await runCli(['predict', crop, '--model-dir', path.join(dir, 'photos')]);
  assert.equal(run.code, 1);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^agegender: .*photos.*(preprocess\.json|model\.json)/);
});
