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
 * Largest image decoded, width x height from its header: sharp's own default (0x3FFF squared), named here
 * because decodeRgbWithin makes it safe. Shrunk while decoding, a 15000 x 15000 PNG (225 Mpx) costs ~200
 * MB and ~2 s; decoded whole it is 675 MB of RGB, and 2.7 GB as the int32 tensor the detector takes,
 * which aborts the wasm module (its heap stops at 4 GB).
 */
export const MAX_INPUT_PIXELS = 0x3fff * 0x3fff;

/** An image decoded at a reduced size, with the size of the original (positions map back by the ratio). */
export interface ScaledRgbImage extends RgbImage {
  /** Size of the original, EXIF orientation applied. */
  originalWidth: number;
  originalHeight: number;
}

/**
 * decodeRgb, shrunk on decode (never enlarged) so the longer side is at most `maxSide`: memory stays
 * bounded whatever the photo's size; positions map back by originalWidth / width (and height).
 */
export async function decodeRgbWithin(input: string | Buffer, maxSide: number): Promise<ScaledRgbImage> {
  const meta = await sharp(input, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
  const originalWidth = meta.autoOrient?.width ?? meta.width ?? 0;
  const originalHeight = meta.autoOrient?.height ?? meta.height ?? 0;
  const { data, info } = await sharp(input, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS })
    .rotate()
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
    originalWidth: Math.max(originalWidth, info.width),
    originalHeight: Math.max(originalHeight, info.height),
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
