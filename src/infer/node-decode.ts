import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { decodeRgbWithin } from '../data/image.js';
import { sharpOnly, turboJpeg } from '../data/jpeg-turbo.js';
import { decodeJpeg, plainJpeg } from '../data/plain-jpeg.js';
import { exactShrink } from '../data/resample.js';
import { InvalidImageError, reason } from '../util/errors.js';
import { readRegularFile } from '../util/regular-file.js';
import { MAX_DECODE_SIDE, type DecodedImage, type Resize } from './face-pipeline.js';
import {
  checkPixels,
  isImageTensor,
  isRawImage,
  rawToRgb,
  tensorToRgb,
  type ImageTensor,
  type RawImage,
} from './image-input.js';

/**
 * The Node side's parts of the face pipeline (face-pipeline.ts), as src/web/decode.ts is the browser's:
 * inputs decoded by sharp (shrunk on decode, the pixel limit read from the header) or, for plain JPEGs, by
 * libturbojpeg to the same pixels; resampling by sharp or, where it gives the same bytes, by our port of
 * its shrink (../data/resample.ts).
 */

/**
 * What a predictor reads: an image file (a path or a `file:` URL), an encoded image in memory, raw RGB or
 * RGBA pixels, or a tfjs tensor [h, w, 3|4].
 */
export type PredictorInput = string | URL | Buffer | RawImage | ImageTensor;

/** Largest image file read (a photo, not a video): bigger files are refused before reading. */
const MAX_IMAGE_FILE_BYTES = 512 * 1024 * 1024;

/**
 * sharp's resize, as the training crops were made (the pipeline's injected resampler in Node): a shrink
 * by our port of it where that gives sharp's very bytes (a face crop: 0.4-0.6 ms instead of 1.2-1.6 ms),
 * sharp itself otherwise.
 */
export const nodeResize: Resize = async (img, width, height, kernel) => {
  const exact = !sharpOnly() && exactShrink(img.data, img.width, img.height, width, height, kernel);
  if (exact) return exact;
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel })
    .raw()
    .toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
};

/**
 * An input as RGB pixels, or the typed error naming it: not a regular file, too many pixels (read from
 * the header, before decoding), or not a readable image.
 */
export async function decodeInNode(
  input: PredictorInput,
  name: string,
  maxPixels: number,
): Promise<DecodedImage> {
  if (input instanceof URL) {
    if (input.protocol !== 'file:')
      throw new InvalidImageError(`${name}: not a readable image: only file: URLs are read`);
    input = fileURLToPath(input);
  }
  if (typeof input !== 'string' && !Buffer.isBuffer(input)) {
    let rgb;
    if (isImageTensor(input)) rgb = await tensorToRgb(name, input, maxPixels);
    else if (isRawImage(input)) rgb = rawToRgb(name, input, maxPixels);
    else
      throw new InvalidImageError(
        `${name}: not a readable image: expected a file path or file: URL, a Buffer / Uint8Array of an ` +
          'encoded image, { data, width, height } pixels or a tfjs tensor',
      );
    return { ...rgb, originalWidth: rgb.width, originalHeight: rgb.height };
  }
  const bytes =
    typeof input === 'string'
      ? await readRegularFile(input, MAX_IMAGE_FILE_BYTES).catch((err: unknown) => {
          throw new InvalidImageError(`${name}: not a readable image: ${reason(err)}`);
        })
      : input;
  const plain = decodePlainJpeg(bytes, name, maxPixels);
  if (plain) return plain;
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new InvalidImageError(`${name}: not a readable image: ${reason(err)}`);
  }
  const [w, h] = [meta.autoOrient?.width ?? meta.width ?? 0, meta.autoOrient?.height ?? meta.height ?? 0];
  checkPixels(name, w, h, maxPixels);
  try {
    return await decodeRgbWithin(bytes, MAX_DECODE_SIDE);
  } catch (err) {
    throw new InvalidImageError(`${name}: not a readable image: ${reason(err)}`);
  }
}

/**
 * A plain JPEG (../data/plain-jpeg.ts) within MAX_DECODE_SIDE decoded by libturbojpeg: sharp's pixels in
 * about a third of its time (1-2 ms for a 960 x 640 photo instead of 5-6). Null for anything else.
 */
function decodePlainJpeg(bytes: Uint8Array, name: string, maxPixels: number): DecodedImage | null {
  const tj = turboJpeg();
  const header = tj && plainJpeg(tj, bytes);
  if (!header || header.orientation !== 1) return null;
  if (Math.max(header.width, header.height) > MAX_DECODE_SIDE) return null;
  checkPixels(name, header.width, header.height, maxPixels);
  const rgb = decodeJpeg(tj, bytes, header, 1);
  return rgb && { ...rgb, originalWidth: rgb.width, originalHeight: rgb.height };
}
