import type { Rgb } from '../data/square.js';
import { ImageTooLargeError, InvalidImageError } from '../util/errors.js';

// In-memory image inputs that both builds take (raw pixels, a tfjs tensor) turned into RGB, pure (no Node
// API, no DOM): the Node predictor and the browser entry read them with the same code and the same errors.

/** Raw pixels, row by row, RGB (3 bytes per pixel) or RGBA (4; alpha is dropped), like an ImageData. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA); by default read from data.length. */
  channels?: 3 | 4;
}

/**
 * A tfjs tensor of one image, [height, width, 3] (RGB) or [height, width, 4] (RGBA), values 0..255 (int32
 * or float32, as tf.browser.fromPixels or tf.node.decodeImage give). Any tfjs instance's tensor works: it is
 * read through `shape` and `data()` only.
 */
export interface ImageTensor {
  readonly shape: number[];
  readonly dtype: string;
  data(): Promise<ArrayLike<number>>;
}

/** The pixel limit, checked before any pixel is decoded where the format allows (width * height). */
export function checkPixels(name: string, width: number, height: number, maxPixels: number): void {
  if (width * height > maxPixels)
    throw new ImageTooLargeError(
      `${name}: image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels}`,
    );
}

export function isRawImage(input: unknown): input is RawImage {
  return !!input && typeof input === 'object' && 'data' in input && 'width' in input && 'height' in input;
}

export function isImageTensor(input: unknown): input is ImageTensor {
  return (
    !!input &&
    typeof input === 'object' &&
    Array.isArray((input as ImageTensor).shape) &&
    typeof (input as ImageTensor).data === 'function' &&
    typeof (input as ImageTensor).dtype === 'string'
  );
}

/** Raw RGB or RGBA pixels as RGB, checked: positive integer sides, the limit, as many bytes as they need. */
export function rawToRgb(name: string, img: RawImage, maxPixels: number): Rgb {
  const { data, width, height } = img;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
    throw new InvalidImageError(`${name}: not a readable image: width and height must be positive integers`);
  checkPixels(name, width, height, maxPixels);
  const pixels = width * height;
  const channels = img.channels ?? (data?.length === pixels * 4 ? 4 : 3);
  if (
    !(data instanceof Uint8Array || data instanceof Uint8ClampedArray) ||
    (channels !== 3 && channels !== 4)
  )
    throw new InvalidImageError(
      `${name}: not a readable image: raw pixels need data (Uint8Array), width, height and 3 or 4 channels`,
    );
  if (data.length !== pixels * channels)
    throw new InvalidImageError(
      `${name}: not a readable image: ${data.length} bytes of pixels, expected ${width}x${height}x${channels} = ${pixels * channels}`,
    );
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { data: channels === 3 ? bytes : dropAlpha(bytes, pixels), width, height };
}

/** A [h, w, 3|4] tensor of 0..255 values as RGB bytes (rounded, clamped). */
export async function tensorToRgb(name: string, t: ImageTensor, maxPixels: number): Promise<Rgb> {
  const [height, width, channels] = t.shape;
  if (t.shape.length !== 3 || (channels !== 3 && channels !== 4) || !(width! > 0 && height! > 0))
    throw new InvalidImageError(
      `${name}: not a readable image: a tensor must be [height, width, 3] (RGB) or [height, width, 4], not [${t.shape.join(', ')}]`,
    );
  checkPixels(name, width!, height!, maxPixels);
  const values = await t.data();
  const pixels = width! * height!;
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++)
    for (let c = 0; c < 3; c++) {
      const v = Math.round(Number(values[p * channels! + c]));
      rgb[p * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  return { data: rgb, width: width!, height: height! };
}

export function dropAlpha(rgba: Uint8Array | Uint8ClampedArray, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    rgb[j] = rgba[i]!;
    rgb[j + 1] = rgba[i + 1]!;
    rgb[j + 2] = rgba[i + 2]!;
  }
  return rgb;
}
