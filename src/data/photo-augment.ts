import sharp from 'sharp';
import { mulberry32 } from '../util/random.js';
import { cutSquare } from './square.js';

/**
 * Augmentations that make a clean dataset crop look like a face that `predict` cut out of an ordinary
 * photo: the detector's box lands a little off (scale and position jitter, black outside the crop as
 * predict's own cut), the photo is softer (blur), re-compressed (JPEG), differently exposed and coloured
 * (brightness, contrast, saturation), sometimes black and white, and mirrored half of the time.
 *
 * Every draw comes from `seed`, so the same (image, seed) always gives the same pixels: a cache of
 * features computed from augmented views stays valid across runs.
 */
export interface PhotoAugmentOptions {
  /** Crop side drawn from [1 - scale, 1 + scale] times the original. */
  scale: number;
  /** Crop centre moved by up to this fraction of the side, on each axis. */
  shift: number;
  /** Probability of a Gaussian blur, sigma drawn from [0.4, maxBlurSigma]. */
  blur: number;
  maxBlurSigma: number;
  /** Probability of a JPEG round trip, quality drawn from [minJpegQuality, 90]. */
  jpeg: number;
  minJpegQuality: number;
  /** Brightness and contrast factors from [1 - x, 1 + x]; saturation from [1 - 1.5x, 1 + 1.5x]. */
  colour: number;
  /** Probability of a grey-scale image. */
  grey: number;
}

export const PHOTO_AUGMENT: PhotoAugmentOptions = {
  scale: 0.12,
  shift: 0.06,
  blur: 0.35,
  maxBlurSigma: 1.4,
  jpeg: 0.5,
  minJpegQuality: 30,
  colour: 0.2,
  grey: 0.15,
};

/** One augmented copy of a square HWC uint8 RGB image of side `size` (the result has the same side). */
export async function photoAugment(
  pixels: Uint8Array,
  size: number,
  seed: number,
  opts: PhotoAugmentOptions = PHOTO_AUGMENT,
): Promise<Uint8Array> {
  const rand = mulberry32(seed);
  const between = (lo: number, hi: number) => lo + (hi - lo) * rand();
  // Draw everything up front, in a fixed order, so the result depends on the seed alone.
  const side = size * between(1 - opts.scale, 1 + opts.scale);
  const cx = size / 2 + size * between(-opts.shift, opts.shift);
  const cy = size / 2 + size * between(-opts.shift, opts.shift);
  const flip = rand() < 0.5;
  const blurSigma = rand() < opts.blur ? between(0.4, opts.maxBlurSigma) : 0;
  const quality = rand() < opts.jpeg ? Math.round(between(opts.minJpegQuality, 90)) : 0;
  const brightness = between(1 - opts.colour, 1 + opts.colour);
  const contrast = between(1 - opts.colour, 1 + opts.colour);
  const saturation = between(1 - 1.5 * opts.colour, 1 + 1.5 * opts.colour);
  const grey = rand() < opts.grey;

  const cut = cutSquare(
    { data: pixels, width: size, height: size },
    { x: cx - side / 2, y: cy - side / 2, w: side },
  );
  let img = sharp(cut.data, { raw: { width: cut.width, height: cut.height, channels: 3 } })
    .resize(size, size, { fit: 'fill', kernel: 'lanczos3' })
    .modulate({ brightness, saturation })
    .linear(contrast, 128 * (1 - contrast));
  if (flip) img = img.flop();
  if (blurSigma > 0) img = img.blur(blurSigma);
  let out = await img.raw().toBuffer();
  if (quality > 0) {
    const jpeg = await sharp(out, { raw: { width: size, height: size, channels: 3 } })
      .jpeg({ quality })
      .toBuffer();
    out = await sharp(jpeg).removeAlpha().raw().toBuffer();
  }
  const rgb = new Uint8Array(out.buffer, out.byteOffset, out.length);
  if (grey) {
    for (let i = 0; i < rgb.length; i += 3) {
      const y = Math.round(0.299 * rgb[i]! + 0.587 * rgb[i + 1]! + 0.114 * rgb[i + 2]!);
      rgb[i] = rgb[i + 1] = rgb[i + 2] = y;
    }
  }
  return rgb;
}

/**
 * The face as a photo shows it small: shrunk to `side` pixels (Lanczos-3) and enlarged back to `size`
 * (bicubic), as predict enlarges a face the detector found at that size.
 */
export async function lowResolution(pixels: Uint8Array, size: number, side: number): Promise<Uint8Array> {
  const small = await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
    .resize(side, side, { kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  const out = await sharp(small, { raw: { width: side, height: side, channels: 3 } })
    .resize(size, size, { kernel: 'cubic' })
    .raw()
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
