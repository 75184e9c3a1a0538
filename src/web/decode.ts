import type { DecodedImage } from '../infer/face-pipeline.js';
import {
  checkPixels,
  dropAlpha,
  isImageTensor,
  isRawImage,
  rawToRgb,
  tensorToRgb,
  type ImageTensor,
  type RawImage,
} from '../infer/image-input.js';
import { InvalidImageError, UserError, reason } from '../util/errors.js';

/** What `predict` takes in the page. A Blob (a File) is decoded with its EXIF orientation applied. */
export type WebImageInput =
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | OffscreenCanvas
  | ImageBitmap
  | ImageData
  | Blob
  | RawImage
  | ImageTensor;

/** Any WebImageInput as RGB pixels (the browser's decoders), or an InvalidImageError / ImageTooLargeError. */
export async function decodeInBrowser(
  input: WebImageInput,
  name: string,
  maxPixels: number,
): Promise<DecodedImage> {
  const rgb = await toRgb(input, name, maxPixels);
  return { ...rgb, originalWidth: rgb.width, originalHeight: rgb.height };
}

async function toRgb(input: WebImageInput, name: string, maxPixels: number) {
  const check = (w: number, h: number) => {
    if (!(w > 0 && h > 0))
      throw new InvalidImageError(`${name}: not a readable image: it has no pixels (not loaded yet?)`);
    checkPixels(name, w, h, maxPixels);
  };
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(input, { imageOrientation: 'from-image' });
    } catch (err) {
      throw new InvalidImageError(`${name}: not a readable image: ${reason(err)}`);
    }
    try {
      check(bitmap.width, bitmap.height);
      return drawn(bitmap, bitmap.width, bitmap.height);
    } finally {
      bitmap.close();
    }
  }
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) {
    check(input.width, input.height);
    return {
      data: dropAlpha(input.data, input.width * input.height),
      width: input.width,
      height: input.height,
    };
  }
  if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement) {
    if (!input.complete) await input.decode().catch(() => undefined);
    check(input.naturalWidth, input.naturalHeight);
    return drawn(input, input.naturalWidth, input.naturalHeight);
  }
  if (typeof HTMLVideoElement !== 'undefined' && input instanceof HTMLVideoElement) {
    check(input.videoWidth, input.videoHeight);
    return drawn(input, input.videoWidth, input.videoHeight);
  }
  if (
    (typeof HTMLCanvasElement !== 'undefined' && input instanceof HTMLCanvasElement) ||
    (typeof OffscreenCanvas !== 'undefined' && input instanceof OffscreenCanvas) ||
    (typeof ImageBitmap !== 'undefined' && input instanceof ImageBitmap)
  ) {
    check(input.width, input.height);
    return drawn(input, input.width, input.height);
  }
  if (isImageTensor(input)) return tensorToRgb(name, input, maxPixels);
  if (isRawImage(input)) return rawToRgb(name, input, maxPixels);
  throw new InvalidImageError(
    `${name}: not a readable image: expected an <img>, <canvas>, <video>, ImageBitmap, ImageData, Blob, ` +
      '{ data, width, height } or a tfjs tensor',
  );
}

function drawn(source: CanvasImageSource, width: number, height: number) {
  const canvas =
    typeof OffscreenCanvas !== 'undefined'
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as
    CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new UserError('this browser gives no 2d canvas to read image pixels with');
  ctx.drawImage(source, 0, 0);
  return { data: dropAlpha(ctx.getImageData(0, 0, width, height).data, width * height), width, height };
}
