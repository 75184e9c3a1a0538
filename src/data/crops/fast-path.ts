import { marginRect, type CropJob, type CropSettings } from './job.js';
import type { TurboJpeg } from '../jpeg-turbo.js';
import { decodeJpeg, plainJpeg } from '../plain-jpeg.js';
import { shrinksExactly, vipsShrink } from '../resample.js';
import { cutSquare, type Rgb } from '../square.js';

/**
 * The crop's pixels made without sharp, synchronously, from libturbojpeg and our port of libvips's
 * shrink: the same bytes sharp gives (test/data-crop-fast.test.ts), at a fraction of its per-call cost.
 * Returns null wherever that cannot be promised, and the caller then uses sharp: not a plain JPEG
 * (../plain-jpeg.ts), an EXIF rotation (sharp applies it), an enlargement (sharp's bicubic affine is not
 * ported exactly), or a shrink libvips does with an extra box filter.
 */
export function fastCropPixels(
  tj: TurboJpeg,
  input: Uint8Array,
  job: CropJob,
  settings: CropSettings,
): Uint8Array | null {
  const header = plainJpeg(tj, input);
  if (!header) return null;
  const size = settings.imgSize;
  const margin = settings.margin !== null && job.box ? settings.margin : null;
  // The margin crop is cut from the stored pixel grid (IMDB-WIKI's boxes ignore EXIF); the others are
  // taken after sharp's auto-rotation, which only orientation 1 (or none) leaves as stored.
  if (margin === null && header.orientation !== 1) return null;
  // Each branch checks first that the shrink is one vipsShrink reproduces, so as not to decode for nothing.
  if (job.region) {
    const side = Math.max(1, Math.round(job.region.w)); // cutSquare's side
    const shrink = 1 / (1 / (side / size));
    if (!shrinksExactly(side, shrink)) return null;
    const full = decodeJpeg(tj, input, header, 1);
    if (!full) return null;
    const square = cutSquare(full, job.region);
    const out = vipsShrink(square.data, square.width, square.height, shrink, shrink);
    return out && out.width === size && out.height === size ? out.data : null;
  }
  if (margin !== null) {
    const rect = marginRect(job.box!, margin, header.width, header.height);
    if (!rect || !coverShrinks(rect.width, rect.height, size)) return null;
    const full = decodeJpeg(tj, input, header, 1);
    if (!full) return null;
    const cut = cutRect(full, rect.left, rect.top, rect.width, rect.height);
    return cover(cut, rect.width, rect.height, size);
  }
  // sharp's shrink-on-load (pipeline.cc, fastShrinkOnLoad): the largest of 8, 4, 2 within the shrink,
  // halved when the shrink is that very integer (libjpeg's rounding); libvips then keeps
  // floor(side / shrink) of the ceil(side / shrink) pixels libjpeg gives.
  const shrink = Math.min(header.width / size, header.height / size);
  let onLoad = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
  if (onLoad > 1 && Math.trunc(shrink) === onLoad) onLoad /= 2;
  const width = Math.floor(header.width / onLoad);
  const height = Math.floor(header.height / onLoad);
  if (!coverShrinks(width, height, size)) return null;
  const decoded = decodeJpeg(tj, input, header, onLoad);
  if (!decoded) return null;
  const data =
    width === decoded.width && height === decoded.height
      ? decoded.data
      : cutRect(decoded, 0, 0, width, height);
  return cover(data, width, height, size);
}

/**
 * The shrink factors sharp's resize(size, size, { fit: 'cover' }) hands libvips for width x height:
 * the smaller factor on both axes, as a scale 1 / shrink and back, never below 1 pixel (vips_resize);
 * null for an enlargement or a shrink vipsShrink does not reproduce.
 */
function coverShrinks(width: number, height: number, size: number): { h: number; v: number } | null {
  const shrink = Math.min(width / size, height / size);
  if (shrink < 1) return null;
  const scale = (n: number) => Math.max(1 / shrink, 1 / n);
  const h = scale(width) < 1 ? 1 / scale(width) : 1;
  const v = scale(height) < 1 ? 1 / scale(height) : 1;
  return shrinksExactly(width, h) && shrinksExactly(height, v) ? { h, v } : null;
}

/** sharp's resize(size, size, { fit: 'cover' }): shrink both axes by the smaller factor, cut the centre. */
function cover(rgb: Uint8Array, width: number, height: number, size: number): Uint8Array | null {
  const f = coverShrinks(width, height, size);
  const out = f && vipsShrink(rgb, width, height, f.h, f.v);
  if (!out || out.width < size || out.height < size) return null;
  if (out.width === size && out.height === size) return out.data;
  const left = Math.trunc((out.width - size + 1) / 2);
  const top = Math.trunc((out.height - size + 1) / 2);
  return cutRect(out, left, top, size, size);
}

/** The width x height rectangle at (left, top) of an RGB image, which holds it whole. */
function cutRect(img: Rgb, left: number, top: number, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const src = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(src, src + width * 3), y * width * 3);
  }
  return out;
}
