import type { Normalization } from './preprocess-spec.js';

// Pure pixel maths (no sharp, no Node): the Node predictor, the trainer and the browser entry (src/web/)
// all normalise through these two functions, so the page cannot drift from the server.

/**
 * Per-image standardisation (TensorFlow's per_image_standardization): zero mean, unit variance over the
 * whole image, with the std floored at 1/sqrt(N) so flat images do not blow up. Optionally mirrors the
 * image left-right (training augmentation). Writes into `out` (length H*W*3) at `offset`.
 */
export function standardize(
  pixels: Uint8Array,
  size: number,
  out: Float32Array,
  offset = 0,
  flip = false,
): void {
  const n = pixels.length;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const v = pixels[i]!;
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / n;
  const variance = Math.max(sumSq / n - mean * mean, 0);
  const scale = 1 / Math.max(Math.sqrt(variance), 1 / Math.sqrt(n));
  if (!flip) {
    for (let i = 0; i < n; i++) out[offset + i] = (pixels[i]! - mean) * scale;
    return;
  }
  const row = size * 3;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const src = y * row + x * 3;
      const dst = offset + y * row + (size - 1 - x) * 3;
      out[dst] = (pixels[src]! - mean) * scale;
      out[dst + 1] = (pixels[src + 1]! - mean) * scale;
      out[dst + 2] = (pixels[src + 2]! - mean) * scale;
    }
  }
}

/**
 * The spec's normalisation of one HWC uint8 image into `out` at `offset` (optionally mirrored left-right).
 * Training, evaluation and prediction all go through here, so they cannot drift apart.
 */
export function normalizeInto(
  pixels: Uint8Array,
  norm: Normalization,
  size: number,
  out: Float32Array,
  offset = 0,
  flip = false,
): void {
  if (norm.kind === 'per-image-standardization') {
    standardize(pixels, size, out, offset, flip);
    return;
  }
  const [mr, mg, mb] = norm.mean;
  const k = norm.scale;
  const row = size * 3;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const src = y * row + x * 3;
      const dst = offset + y * row + (flip ? size - 1 - x : x) * 3;
      out[dst] = (pixels[src]! - mr) * k;
      out[dst + 1] = (pixels[src + 1]! - mg) * k;
      out[dst + 2] = (pixels[src + 2]! - mb) * k;
    }
  }
}
