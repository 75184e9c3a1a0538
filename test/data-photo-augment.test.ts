import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PHOTO_AUGMENT, lowResolution, photoAugment } from '../src/data/photo-augment.js';

/** A face-sized test card: a colour gradient with a bright square off centre (so shifts and flips show). */
function card(size: number): Uint8Array {
  const px = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      const inSquare = x > size * 0.2 && x < size * 0.45 && y > size * 0.3 && y < size * 0.6;
      px[i] = inSquare ? 250 : Math.round((x / size) * 200);
      px[i + 1] = inSquare ? 240 : Math.round((y / size) * 200);
      px[i + 2] = 90;
    }
  return px;
}

const meanAbsDiff = (a: Uint8Array, b: Uint8Array) =>
  a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;

test('photoAugment is a pure function of the seed, changes the image, and keeps its size', async () => {
  const size = 64;
  const src = card(size);
  const a = await photoAugment(src, size, 7);
  const again = await photoAugment(src, size, 7);
  const other = await photoAugment(src, size, 8);
  assert.equal(a.length, src.length);
  assert.deepEqual(again, a, 'same seed, same pixels');
  assert.ok(meanAbsDiff(a, other) > 1, 'another seed gives another image');
  assert.ok(meanAbsDiff(a, src) > 1, 'the image was changed');
});

test('with every effect off but grey, the result is the grey image of the input', async () => {
  const size = 32;
  const src = card(size);
  const off = { ...PHOTO_AUGMENT, scale: 0, shift: 0, blur: 0, jpeg: 0, colour: 0, grey: 1 };
  // Flip is drawn per seed: find one seed that does not mirror (half of them).
  let out: Uint8Array | undefined;
  for (let seed = 1; seed < 20 && !out; seed++) {
    const o = await photoAugment(src, size, seed, off);
    const grey = (i: number) => Math.round(0.299 * src[i]! + 0.587 * src[i + 1]! + 0.114 * src[i + 2]!);
    if (Math.abs(o[0]! - grey(0)) <= 2) out = o;
  }
  assert.ok(out, 'no unflipped draw in 19 seeds');
  for (let i = 0; i < src.length; i += 3) {
    const g = Math.round(0.299 * src[i]! + 0.587 * src[i + 1]! + 0.114 * src[i + 2]!);
    assert.ok(Math.abs(out[i]! - g) <= 2, `pixel ${i / 3}: ${out[i]} vs ${g}`);
    assert.equal(out[i], out[i + 1]);
    assert.equal(out[i], out[i + 2]);
  }
});

test('lowResolution keeps the size and loses detail the more, the smaller the face was seen', async () => {
  const size = 150;
  const src = card(size);
  const at64 = await lowResolution(src, size, 64);
  const at24 = await lowResolution(src, size, 24);
  assert.equal(at24.length, src.length);
  // The square's sharp edges are what a small view blurs; the gradient survives.
  const [d64, d24] = [meanAbsDiff(at64, src), meanAbsDiff(at24, src)];
  assert.ok(d64 > 0 && d24 > d64 * 1.5, `diff at 64 px ${d64}, at 24 px ${d24}`);
  assert.ok(d24 < 12, `still the same picture (diff ${d24})`);
});
