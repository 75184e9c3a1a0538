import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { evalBatches } from '../src/data/dataset-stream.js';
import { decodeRgb, decodeRgbWithin, loadResized, standardize } from '../src/data/image.js';
import { UserError } from '../src/util/errors.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { pickUtkface, tempDir, utkfaceDir } from './helpers/fixtures.js';

test('loadResized gives imageSize^2*3 RGB bytes for a real UTKFace crop', async () => {
  const spec = defaultPreprocessSpec(48);
  const [s] = pickUtkface(1);
  const px = await loadResized(path.join(utkfaceDir, s!.file), spec);
  assert.equal(px.length, 48 * 48 * 3);
  assert.ok(new Set(px).size > 50, 'a real photo has many distinct values');
});

test('standardize gives zero mean and unit variance, and flip mirrors columns', () => {
  const size = 4;
  const px = new Uint8Array(size * size * 3).map((_, i) => (i * 37) % 251);
  const out = new Float32Array(px.length);
  standardize(px, size, out);
  const mean = out.reduce((a, b) => a + b, 0) / out.length;
  const variance = out.reduce((a, b) => a + (b - mean) ** 2, 0) / out.length;
  assert.ok(Math.abs(mean) < 1e-5);
  assert.ok(Math.abs(variance - 1) < 1e-4);
  const flipped = new Float32Array(px.length);
  standardize(px, size, flipped, 0, true);
  // pixel (y=1, x=0) lands at (y=1, x=3)
  for (let c = 0; c < 3; c++) assert.equal(flipped[1 * 12 + 3 * 3 + c], out[1 * 12 + 0 * 3 + c]);
});

test('standardize floors the std for a flat image instead of dividing by zero', () => {
  const px = new Uint8Array(2 * 2 * 3).fill(9);
  const out = new Float32Array(px.length);
  standardize(px, 2, out);
  assert.ok(out.every((v) => v === 0));
});

test('a FIFO or a device given as an image path is refused at once, never waited on (training skips it)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const fifo = path.join(dir, 'x.jpg');
    execFileSync('mkfifo', [fifo]);
    const spec = defaultPreprocessSpec(32);
    for (const [name, run] of [
      ['loadResized', () => loadResized(fifo, spec)],
      ['decodeRgb', () => decodeRgb(fifo)],
      ['decodeRgbWithin', () => decodeRgbWithin(fifo, 100)],
      ['loadResized /dev/zero', () => loadResized('/dev/zero', spec)],
    ] as const)
      await assert.rejects(
        run(),
        (e: unknown) => e instanceof UserError && /not a regular file/.test(String(e)),
        name,
      );
    const skipped: string[] = [];
    const [s] = pickUtkface(1);
    const rows = [
      { filename: 'x.jpg', age: 30, gender: 1 as const },
      { filename: s!.file, age: s!.age, gender: s!.gender },
    ];
    await fs.symlink(path.join(utkfaceDir, s!.file), path.join(dir, s!.file));
    const seen: number[] = [];
    for await (const b of evalBatches(rows, {
      imgDir: dir,
      spec,
      batchSize: 4,
      onSkip: (f, why) => skipped.push(`${f}: ${why}`),
    }))
      seen.push(b.size);
    assert.deepEqual(seen, [1]);
    assert.match(skipped.join('\n'), /x\.jpg: .*FIFO/);
  } finally {
    await cleanup();
  }
});
