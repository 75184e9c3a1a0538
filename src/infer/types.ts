import type { Rgb } from '../data/square.js';
import type { ImageTooLargeError, InvalidImageError } from '../util/errors.js';

/**
 * The predictor's public types, kept free of tfjs so that the main entry's declarations load none of it.
 */

/** A face box in pixels of the original (EXIF-oriented) image. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One face found by a detector, in pixels of the image it was given. */
export interface Detection {
  box: Box;
  score: number;
}

/** One face's answer, as printed by `predict --json`, returned by the HTTP API and shown on the page. */
export interface FaceResult {
  /** Where the face is; the whole image for --no-detect. */
  box: Box;
  /** Detector confidence in [0, 1]; 1 for --no-detect. */
  score: number;
  /** DEX expectation: sum_i p_i * age_i. */
  age: number;
  /** Standard deviation of the age distribution (years): how sure the model is. */
  ageSpread: number;
  gender: 'M' | 'F';
  pMale: number;
  pFemale: number;
  /** The seed's output text, e.g. "M/46". */
  label: string;
}

/**
 * One face's answer; with `crop: true`, also the pixels the network saw (imageSize square, RGB); with
 * `ageDistribution: true`, the age head's softmax (class i = age.min + i).
 */
export type Face = FaceResult & { crop?: Rgb; ageDistribution?: Float32Array };

/** One input's outcome: its faces, or the typed error naming it. */
export type Settled =
  { ok: true; faces: Face[] } | { ok: false; error: string; cause: InvalidImageError | ImageTooLargeError };

export interface PredictProgress {
  /** Inputs done (detected and cropped; their faces go through the network in batches). */
  done: number;
  total: number;
}

/** The seed's answer text: `M/46`. */
export function formatLabel(gender: 'M' | 'F', age: number): string {
  return `${gender}/${Math.round(age)}`;
}
