import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import {
  ImageTooLargeError,
  InvalidImageError,
  InvalidOptionError,
  loadPredictor,
  UserError,
  type FacePredictor,
} from '../src/index.js';
import { evaluate, preprocessUtkface, train, type ProgressEvent } from '../src/training.js';
import { pickUtkface, repoRoot, tempDir, utkfaceDir } from './helpers/fixtures.js';

// The library API (src/index.ts) as an application uses it: every input kind gives the same answer as
// the file, bad input rejects with a typed error carrying the CLI's message, and long functions report
// progress through a callback. Small fixtures: a few UTKFace crops from ../shared.

const [sample, other] = pickUtkface(2, 5);
const crop = path.join(utkfaceDir, sample!.file);
const crop2 = path.join(utkfaceDir, other!.file);

describe('library API', { timeout: 180_000 }, () => {
  let predictor: FacePredictor;

  before(async () => {
    predictor = await loadPredictor({ threads: 1 });
  });
  after(() => predictor?.dispose());

  test('a path, a Buffer, a Uint8Array and raw RGB / RGBA pixels of one image get the same face', async () => {
    const fromPath = await predictor.predict(crop, { detect: false });
    assert.equal(fromPath.length, 1);
    const f = fromPath[0]!;
    assert.match(f.label, /^[MF]\/\d{1,3}$/);
    assert.equal(f.gender, f.pMale >= 0.5 ? 'M' : 'F');
    assert.deepEqual(Object.keys(f).sort(), [
      'age',
      'ageSpread',
      'box',
      'gender',
      'label',
      'pFemale',
      'pMale',
      'score',
    ]);

    const bytes = await fs.readFile(crop);
    const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const rgba = await sharp(bytes).ensureAlpha().raw().toBuffer();
    const inputs = [
      bytes,
      new Uint8Array(bytes),
      { data: new Uint8Array(data), width: info.width, height: info.height },
      { data: new Uint8ClampedArray(rgba), width: info.width, height: info.height, channels: 4 as const },
    ];
    for (const [i, input] of inputs.entries()) {
      const [g] = await predictor.predict(input, { detect: false });
      assert.deepEqual(g, f, `input kind ${i}`);
    }
  });

  test('a photo with detection: faces with boxes inside the image', async () => {
    const faces = await predictor.predict(crop);
    assert.ok(faces.length >= 1, 'the margin pass finds the face of a crop');
    for (const face of faces) {
      assert.ok(
        face.box.x >= 0 &&
          face.box.y >= 0 &&
          face.box.x + face.box.w <= 200 &&
          face.box.y + face.box.h <= 200,
      );
      assert.ok(face.score > 0 && face.score <= 1);
    }
  });

  test('unreadable images reject with InvalidImageError naming the input, as the CLI says it', async () => {
    const garbage = Buffer.from('this is not an image');
    const err = await predictor.predict(garbage).catch((e: unknown) => e);
    assert.ok(err instanceof InvalidImageError && err instanceof UserError);
    assert.equal(err.code, 'invalid_image');
    assert.match(err.message, /^input 1: not a readable image: /);

    const missing = path.join(repoRoot, 'no-such-photo.jpg');
    const err2 = await predictor.predict(missing).catch((e: unknown) => e);
    assert.ok(err2 instanceof InvalidImageError);
    assert.match(
      err2.message,
      new RegExp(`^${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a readable image: `),
    );

    const truncated = (await fs.readFile(crop)).subarray(0, 2000);
    assert.ok((await predictor.predict(truncated).catch((e: unknown) => e)) instanceof InvalidImageError);

    const wrongSize = { data: new Uint8Array(10), width: 4, height: 4 };
    const err3 = await predictor.predict(wrongSize).catch((e: unknown) => e);
    assert.ok(err3 instanceof InvalidImageError);
    assert.match(err3.message, /10 bytes of pixels, expected 4x4x3 = 48/);
  });

  test('predictEach: an unreadable input gets its error, the others their faces', async () => {
    const out = await predictor.predictEach([crop, Buffer.from('nope'), crop2], { detect: false });
    assert.equal(out.length, 3);
    assert.ok(out[0]!.ok && out[2]!.ok);
    assert.ok(!out[1]!.ok && out[1]!.error instanceof InvalidImageError);
    assert.match((out[1] as { error: Error }).error.message, /^input 2: not a readable image/);
  });

  test('too many pixels: ImageTooLargeError from the header, before decoding', async () => {
    const small = await loadPredictor({ maxPixels: 10_000, threads: 1 });
    try {
      const err = await small.predict(crop, { detect: false }).catch((e: unknown) => e);
      assert.ok(err instanceof ImageTooLargeError);
      assert.equal(err.message, `${crop}: image is 200x200 = 40000 pixels, over the limit of 10000`);
      const raw = { data: new Uint8Array(101 * 100 * 3), width: 101, height: 100 };
      assert.ok((await small.predict(raw).catch((e: unknown) => e)) instanceof ImageTooLargeError);
    } finally {
      small.dispose();
    }
  });

  test('unknown options and bad values reject with InvalidOptionError, never a crash', async () => {
    // Thunks, so that no rejection waits unhandled while an earlier case runs.
    const cases: [() => Promise<unknown>, RegExp][] = [
      [
        () => loadPredictor({ minscore: 0.5 } as never),
        /^loadPredictor: unknown option "minscore" \(expected one of /,
      ],
      [
        () => loadPredictor({ minScore: 2 }),
        /^loadPredictor: option minScore must be a number in 0\.\.1, not 2$/,
      ],
      [() => loadPredictor({ detector: 'yolo' as never }), /^loadPredictor: option detector must be one of /],
      [
        () => loadPredictor({ backend: 'gpu' as never }),
        /^loadPredictor: option backend must be one of auto, wasm/,
      ],
      [() => predictor.predict(crop, { detct: false } as never), /^predict: unknown option "detct"/],
      [() => train({ modelDir: 'x', epochs: 1, numSteps: 10 }), /^train: give numSteps or epochs, not both$/],
      [
        () => train({ modelDir: 'x', arch: 'resnet-xxl' as never }),
        /^train: option arch must be one of resnet-xs/,
      ],
      [() => train({} as never), /^train: option modelDir is required/],
      [() => evaluate({ modelDir: 'x', csv: 'y' } as never), /^evaluate: option imgDir is required/],
      [
        () => preprocessUtkface({ photoDir: 'p', outputDir: 'o', imgSize: 3 }),
        /^preprocessUtkface: option imgSize must be an integer in 8\.\.4096/,
      ],
    ];
    for (const [call, message] of cases) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof InvalidOptionError, `${message}: got ${String(err)}`);
      assert.match(err.message, message);
      assert.doesNotMatch(err.message, /--[a-z]/, 'no command-line flag names in library messages');
    }
  });

  test('a disposed predictor says so', async () => {
    const p = await loadPredictor({ threads: 1 });
    p.dispose();
    const err = await p.predict(crop).catch((e: unknown) => e);
    assert.ok(err instanceof UserError);
    assert.match(err.message, /disposed/);
  });

  test('preprocessUtkface and evaluate report progress through the callback, not on stderr', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const photos = path.join(dir, 'photos');
      await fs.mkdir(photos);
      const samples = pickUtkface(8, 3);
      for (const s of samples) await fs.symlink(path.join(utkfaceDir, s.file), path.join(photos, s.file));
      const events: ProgressEvent[] = [];
      const stderr = captureStderr();
      let summary;
      try {
        summary = await preprocessUtkface({
          photoDir: photos,
          outputDir: path.join(dir, 'out'),
          imgSize: 32,
          splitRatio: { train: 0.5, val: 0.5, test: 0 },
          progress: (e) => events.push(e),
        });
      } finally {
        stderr.restore();
      }
      assert.equal(stderr.text(), '', 'nothing on stderr when a callback takes the progress');
      assert.equal(summary.counts.kept, samples.length);
      // One phase reports: cropping (each image's duplicate hash is taken from the same decode).
      const images = events.filter((e) => e.unit === 'images');
      assert.deepEqual(
        images.map((e) => e.done),
        samples.map((_, i) => i + 1),
      );
      assert.ok(images.every((e) => e.total === samples.length && e.rate > 0));
      assert.equal(events.length, samples.length);

      const evalEvents: ProgressEvent[] = [];
      const report = await evaluate({
        modelDir: path.join(repoRoot, 'models', 'default'),
        csv: summary.files.train,
        imgDir: path.join(dir, 'out', 'crop'),
        batchSize: 2,
        progress: (e) => evalEvents.push(e),
      });
      const trainRows = (await fs.readFile(summary.files.train, 'utf8')).trim().split('\n').length - 1;
      assert.equal(report.n, trainRows);
      assert.equal(evalEvents.at(-1)!.done, trainRows);
      assert.equal(evalEvents.at(-1)!.total, trainRows);
      assert.ok(evalEvents.length >= 2, 'one event per batch');
      assert.ok(Number.isFinite(report.mae) && report.mae >= 0);
    } finally {
      await cleanup();
    }
  });
});

function captureStderr(): { text: () => string; restore: () => void } {
  const original = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    text += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  return { text: () => text, restore: () => void (process.stderr.write = original) };
}
