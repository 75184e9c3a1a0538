import sharp from 'sharp';
import type { RgbImage } from '../data/image.js';
import type { FaceCropRule, PreprocessSpec } from '../data/preprocess-spec.js';
import type { Box } from './types.js';

/**
 * The square region, in image pixels, that frames a detected face the way the training crops framed
 * theirs: side `scale * max(w, h)`, centred at the box centre moved by (dx * w, dy * h). The rule's
 * numbers come from calibration (src/infer/calibrate.ts); the region may reach outside the image.
 */
export function cropRegion(box: Box, rule: Pick<FaceCropRule, 'scale' | 'dx' | 'dy'>): Box {
  const side = rule.scale * Math.max(box.w, box.h);
  const cx = box.x + box.w / 2 + rule.dx * box.w;
  const cy = box.y + box.h / 2 + rule.dy * box.h;
  return { x: cx - side / 2, y: cy - side / 2, w: side, h: side };
}

/** Intersection over union of two boxes (0 when they do not overlap). */
export function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Cuts `region` out of the image and resizes it to the model's square input (HWC uint8 RGB).
 * Parts of the region outside the image are BLACK: UTKFace's own aligned crops carry black corners
 * where the face sat near the photo's edge, so black is what the model saw in training.
 */
export async function extractFace(
  image: RgbImage,
  region: Box,
  spec: Pick<PreprocessSpec, 'imageSize' | 'resize'>,
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
    .resize(spec.imageSize, spec.imageSize, { fit: 'fill', kernel: spec.resize.kernel })
    .raw()
    .toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}
