import sharp from 'sharp';
import type { Normalization, PreprocessSpec } from './preprocess-spec.js';

/** Raw RGB pixels of one image, HWC, uint8. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Decodes any image sharp reads (JPEG, PNG, WebP, ...), applies EXIF orientation, drops alpha. */
export async function decodeRgb(input: string | Buffer): Promise<RgbImage> {
  const { data, info } = await sharp(input, { failOn: 'error' })
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
  };
}

/**
 * Decodes and resizes an image (file path, encoded buffer, or raw RGB pixels) to the spec's square input.
 * Returns HWC uint8 RGB of imageSize * imageSize * 3 bytes.
 */
export async function loadResized(
  input: string | Buffer | RgbImage,
  spec: PreprocessSpec,
): Promise<Uint8Array> {
  const s =
    typeof input === 'string' || Buffer.isBuffer(input)
      ? sharp(input, { failOn: 'error' }).rotate()
      : sharp(input.data, { raw: { width: input.width, height: input.height, channels: 3 } });
  const data = await s
    .removeAlpha()
    .toColourspace('srgb')
    .resize(spec.imageSize, spec.imageSize, { fit: spec.resize.fit, kernel: spec.resize.kernel })
    .raw()
    .toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

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

/** A square region in image pixels (may reach outside the image). */
export interface SquareRegion {
  x: number;
  y: number;
  w: number;
}

/**
 * Cuts a square region out of the image and resizes it to `size` (HWC uint8 RGB). Parts of the region
 * outside the image are BLACK: UTKFace's own aligned crops carry black corners where the face sat near
 * the photo's edge, so black is what a model trained on them saw. Predict and the detector-framed
 * training crops (preprocess aaf) both cut faces with this, so they cannot differ.
 */
export async function cropSquare(
  image: RgbImage,
  region: SquareRegion,
  size: number,
  kernel: PreprocessSpec['resize']['kernel'] = 'lanczos3',
): Promise<Uint8Array> {
  const side = Math.max(1, Math.round(region.w));
  const x0 = Math.round(region.x);
  const y0 = Math.round(region.y);
  const square = new Uint8Array(side * side * 3);
  const sx0 = Math.max(0, x0);
  const sx1 = Math.min(image.width, x0 + side);
  if (sx1 > sx0) {
    const rowBytes = (sx1 - sx0) * 3;
    for (let y = Math.max(0, y0); y < Math.min(image.height, y0 + side); y++) {
      const src = (y * image.width + sx0) * 3;
      square.set(image.data.subarray(src, src + rowBytes), ((y - y0) * side + (sx0 - x0)) * 3);
    }
  }
  const data = await sharp(square, { raw: { width: side, height: side, channels: 3 } })
    .resize(size, size, { fit: 'fill', kernel })
    .raw()
    .toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}
