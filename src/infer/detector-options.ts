import { UserError } from '../util/errors.js';
import type { Box } from './types.js';

// The detectors' names and settings, pure (no Node API): the Node detector (detector.ts) and the browser
// entry (src/web/) read them from here, so the page detects exactly as the server does.

/**
 * Detectors whose weights ship inside @vladmandic/face-api (its model/ folder): no download at run time.
 * - ssd-mobilenetv1 (default): 5.6 MB, ~0.2 s per photo on one core; its boxes frame faces most like
 *   the training crops (mean IoU 0.82 after the crop rule) and it finds exactly one face in 94% of 500
 *   UTKFace calibration crops.
 * - tiny-face-detector: 0.2 MB; at input 608 it finds as many faces at similar speed, but with looser,
 *   less consistent boxes (IoU 0.78; exactly one face in only 69% of the calibration crops).
 * Figures: bench/predict-detectors.ts.
 */
export const DETECTORS = ['ssd-mobilenetv1', 'tiny-face-detector'] as const;
export type DetectorName = (typeof DETECTORS)[number];
export const DEFAULT_DETECTOR: DetectorName = 'ssd-mobilenetv1';

/**
 * Default confidence thresholds, chosen on the composite photos of bench/predict-detectors.ts: SSD at 0.5
 * found 83% of the faces, at 0.4 90%, at 0.3 93%, with the same single false detection in all three.
 */
export const DEFAULT_MIN_SCORE: Record<DetectorName, number> = {
  'ssd-mobilenetv1': 0.4,
  'tiny-face-detector': 0.4,
};

/** tiny-face-detector input side: 416 missed most faces under 90 px; 608 found 98% of them. */
export const TINY_INPUT_SIZE = 608;

/** Weight files of each detector inside face-api's model/ folder (what a page must be able to fetch). */
export const DETECTOR_MANIFEST: Record<DetectorName, string> = {
  'ssd-mobilenetv1': 'ssd_mobilenetv1_model-weights_manifest.json',
  'tiny-face-detector': 'tiny_face_detector_model-weights_manifest.json',
};

export function isDetectorName(name: string): name is DetectorName {
  return (DETECTORS as readonly string[]).includes(name);
}

export function parseDetectorName(name: string): DetectorName {
  // Short aliases for the command line.
  const alias: Record<string, DetectorName> = { ssd: 'ssd-mobilenetv1', tiny: 'tiny-face-detector' };
  const full = alias[name] ?? name;
  if (!isDetectorName(full)) {
    throw new UserError(`unknown detector "${name}" (expected ${[...DETECTORS, 'ssd', 'tiny'].join(', ')})`);
  }
  return full;
}

/** Largest side of the black-bordered canvas of the second detection pass (the detector works at 512). */
const MARGIN_CANVAS = 1024;

/**
 * Where the second detection pass puts the image: shrunk by `f` to w x h into the middle (left, top) of a
 * black square of side `canvas`, three times the image's larger side. A face that fills the image and
 * touches its borders (a portrait, an already-cropped face) is missed by the detector until it has room
 * around it, as calibration found on UTKFace crops: a face in 38 of 40 crops with the second pass, in 10
 * of 40 without it.
 */
export interface MarginLayout {
  f: number;
  w: number;
  h: number;
  canvas: number;
  left: number;
  top: number;
}

export function marginLayout(width: number, height: number): MarginLayout {
  const side = Math.max(width, height);
  const f = Math.min(1, MARGIN_CANVAS / (3 * side));
  const w = Math.max(1, Math.round(width * f));
  const h = Math.max(1, Math.round(height * f));
  const canvas = Math.round(3 * side * f);
  return { f, w, h, canvas, left: Math.floor((canvas - w) / 2), top: Math.floor((canvas - h) / 2) };
}

/** A box found on the margin canvas, back in the image's own pixels. */
export function fromMarginCanvas(box: Box, m: MarginLayout): Box {
  return { x: (box.x - m.left) / m.f, y: (box.y - m.top) / m.f, w: box.w / m.f, h: box.h / m.f };
}

/** Detections are listed left to right (then top to bottom), in Node and in the page. */
export function byPosition(a: { box: Box }, b: { box: Box }): number {
  return a.box.x - b.box.x || a.box.y - b.box.y;
}
