import sharp from 'sharp';
import type { PreprocessSpec } from './preprocess-spec.js';

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

// The pixel maths lives in normalize.ts (no sharp there, so the browser entry shares it).
export { normalizeInto, standardize } from './normalize.js';
