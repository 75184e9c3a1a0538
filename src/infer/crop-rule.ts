import type { FaceCropRule, PreprocessSpec } from '../data/preprocess-spec.js';
import { parseDetectorName, type DetectorName } from './detector-options.js';
import type { Box } from './types.js';

// Detector box -> training-style face crop, pure (no sharp, no Node): shared by the Node predictor and
// the browser entry (src/web/), which then only differ in the resampler (sharp vs a Lanczos-3 port).

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

/** A detector box as reported to the user: whole pixels, inside the image. */
export function clipBox(b: Box, img: { width: number; height: number }): Box {
  const x0 = Math.max(0, Math.round(b.x));
  const y0 = Math.max(0, Math.round(b.y));
  const x1 = Math.min(img.width, Math.round(b.x + b.w));
  const y1 = Math.min(img.height, Math.round(b.y + b.h));
  return { x: x0, y: y0, w: Math.max(0, x1 - x0), h: Math.max(0, y1 - y0) };
}

export { cutSquare } from '../data/square.js';

/**
 * Crop rules measured with `agegender calibrate` on 500 UTKFace crops (the default model's training
 * data). Used only when a bundle carries no faceCrop of its own, or one for another detector, which is
 * right for any model trained on UTKFace-style aligned crops; other crops need `agegender calibrate`.
 */
export const UTKFACE_FACE_CROP: Record<DetectorName, FaceCropRule> = {
  'ssd-mobilenetv1': {
    detector: 'ssd-mobilenetv1',
    scale: 1.0385,
    dx: 0.0291,
    dy: 0.0554,
    samples: 469,
    tried: 500,
    mad: { scale: 0.028, dx: 0.0409, dy: 0.014 },
  },
  'tiny-face-detector': {
    detector: 'tiny-face-detector',
    scale: 0.9612,
    dx: 0.0088,
    dy: -0.0266,
    samples: 347,
    tried: 500,
    mad: { scale: 0.0368, dx: 0.0221, dy: 0.013 },
  },
};

/**
 * The detector to run and the crop rule to apply: the one asked for, else the one the bundle was
 * calibrated with, else ssd-mobilenetv1; the bundle's rule when it was measured for that detector, else
 * the UTKFace rule, with `fallback` true so the caller can warn.
 */
export function chooseFaceCrop(
  spec: Pick<PreprocessSpec, 'faceCrop'>,
  detector?: string,
): { detector: DetectorName; faceCrop: FaceCropRule; fallback: boolean } {
  let name: DetectorName;
  if (detector) name = parseDetectorName(detector);
  else {
    try {
      name = spec.faceCrop ? parseDetectorName(spec.faceCrop.detector) : 'ssd-mobilenetv1';
    } catch {
      name = 'ssd-mobilenetv1';
    }
  }
  if (spec.faceCrop && spec.faceCrop.detector === name)
    return { detector: name, faceCrop: spec.faceCrop, fallback: false };
  return { detector: name, faceCrop: UTKFACE_FACE_CROP[name], fallback: true };
}
