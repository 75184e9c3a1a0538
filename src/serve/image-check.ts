import sharp from 'sharp';
import { HttpError } from './http-error.js';

/** Formats the API accepts. SVG/PDF and other vector or exotic inputs are refused: they render, not decode. */
const ACCEPTED_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'] as const;

export interface CheckedImage {
  format: string;
  width: number;
  height: number;
}

/**
 * Vets an uploaded image before it reaches the model, so every bad upload gets a precise 4xx:
 * 1. the header alone (sharp's metadata reads no pixel data) gives format and size: an unknown format is
 *    415/422, and more than `maxPixels` is 413 before a single pixel is decoded (decompression bombs: a
 *    few kB of PNG can claim 50,000 x 50,000 pixels);
 * 2. then a real decode, shrunk on load (cheap: ~1 ms for a 200x200 JPEG), with failOn 'error' and
 *    sharp's limitInputPixels as a second guard, catches truncated and corrupt files.
 */
export async function checkImage(buf: Buffer, maxPixels: number): Promise<CheckedImage> {
  if (buf.length === 0) throw new HttpError(400, 'missing_image', 'empty body: send the image bytes');
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch {
    throw new HttpError(
      422,
      'invalid_image',
      `body is not an image sharp can read (expected one of ${ACCEPTED_FORMATS.join(', ')})`,
    );
  }
  const format = meta.format ?? 'unknown';
  if (!(ACCEPTED_FORMATS as readonly string[]).includes(format)) {
    throw new HttpError(
      415,
      'unsupported_image_format',
      `image format "${format}" is not accepted (expected one of ${ACCEPTED_FORMATS.join(', ')})`,
    );
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (!(width > 0 && height > 0))
    throw new HttpError(422, 'invalid_image', 'image has no size in its header');
  if (width * height > maxPixels) {
    throw new HttpError(
      413,
      'image_too_large',
      `image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels}`,
    );
  }
  try {
    await sharp(buf, { failOn: 'error', limitInputPixels: maxPixels })
      .resize(64, 64, { fit: 'inside', fastShrinkOnLoad: true })
      .raw()
      .toBuffer();
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    const truncated = /premature end|truncat|unexpected end|read error|short read|end of (file|stream)/i.test(
      why,
    );
    throw new HttpError(
      422,
      truncated ? 'truncated_image' : 'invalid_image',
      truncated ? `image is truncated (${why})` : `image cannot be decoded (${why})`,
    );
  }
  return { format, width, height };
}
