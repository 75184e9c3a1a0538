import { cropSquare, type RgbImage } from '../data/image.js';
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

/** Cuts `region` out of the image and resizes it to the model's square input (see data/image.ts cropSquare). */
export function extractFace(
  image: RgbImage,
  region: Box,
  spec: Pick<PreprocessSpec, 'imageSize' | 'resize'>,
): Promise<Uint8Array> {
  return cropSquare(image, region, spec.imageSize, spec.resize.kernel);
}
