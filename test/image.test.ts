import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import { loadResized, standardize } from '../src/data/image.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { pickUtkface, utkfaceDir } from './helpers/fixtures.js';

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
