import sharp, { type Sharp } from 'sharp';
import { cutSquare, type SquareRegion } from './square.js';
import type { PreprocessSpec } from './preprocess-spec.js';
import { refuseSpecialFile } from '../util/regular-file.js';

/** Raw RGB pixels of one image, HWC, uint8. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A sharp pipeline (already rotated / resized as wanted) to HWC uint8 sRGB without alpha. */
async function toRgb(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline
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
 * Decodes any image sharp reads (JPEG, PNG, WebP, ...), applies EXIF orientation, drops alpha. A path
 * naming a FIFO or a device is refused (sharp would wait on it forever).
 */
export async function decodeRgb(input: string | Buffer): Promise<RgbImage> {
  if (typeof input === 'string') await refuseSpecialFile(input);
  return toRgb(sharp(input, { failOn: 'error' }).rotate());
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
  if (typeof input === 'string') await refuseSpecialFile(input);
  const meta = await sharp(input, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
  const originalWidth = meta.autoOrient?.width ?? meta.width ?? 0;
  const originalHeight = meta.autoOrient?.height ?? meta.height ?? 0;
  const img = await toRgb(
    sharp(input, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS })
      .rotate()
      .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true }),
  );
  return {
    ...img,
    originalWidth: Math.max(originalWidth, img.width),
    originalHeight: Math.max(originalHeight, img.height),
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
  if (typeof input === 'string') await refuseSpecialFile(input);
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

// The pixel maths lives in normalize.ts (no sharp there, so the browser entry shares it).
export { normalizeInto, standardize } from './normalize.js';
export { cutSquare, type SquareRegion } from './square.js';

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
  const square = cutSquare(image, region);
  const data = await sharp(square.data, { raw: { width: square.width, height: square.height, channels: 3 } })
    .resize(size, size, { fit: 'fill', kernel })
    .raw()
    .toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}
