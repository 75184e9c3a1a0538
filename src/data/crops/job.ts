import type { SquareRegion } from '../square.js';

// What a crop job asks for, shared by the sharp path (write-crops.ts) and the libturbojpeg fast path
// (fast-path.ts, run in worker threads that must not load sharp).

/** How crops are made; stored beside them so a re-run with other settings never trusts stale crops. */
export interface CropSettings {
  /** Output side in pixels (square). */
  imgSize: number;
  /** JPEG quality of the written crops. */
  quality: number;
  /**
   * null: use the whole source image. A number M: re-crop from the face box first, grown by M times the
   * box width / height on each side (clipped to the image).
   */
  margin: number | null;
  /**
   * How `region` crops were framed (e.g. the detector and crop rule), recorded so that a re-run with
   * another rule re-crops instead of reusing stale crops. Absent for whole-image and margin crops.
   */
  framing?: string;
}

/** One image to crop: `source` is read, `target` (relative to the crop folder) is written. */
export interface CropJob {
  source: string;
  target: string;
  /** Face box [x1, y1, x2, y2] in MATLAB's 1-based pixel coordinates (IMDB-WIKI face_location). */
  box?: readonly number[];
  /**
   * A square region in 0-based pixels of the EXIF-rotated image (may reach outside it: filled black),
   * e.g. a detected face framed by predict's crop rule. Takes precedence over `box`.
   */
  region?: SquareRegion;
}

/** The pixel rectangle to extract for a face box grown by `margin`, or null if it misses the image. */
export function marginRect(
  box: readonly number[],
  margin: number,
  width: number,
  height: number,
): { left: number; top: number; width: number; height: number } | null {
  const [x1, y1, x2, y2] = box as [number, number, number, number];
  if (![x1, y1, x2, y2].every(Number.isFinite) || x2 <= x1 || y2 <= y1) return null;
  const w = x2 - x1;
  const h = y2 - y1;
  // MATLAB pixel k covers [k-1, k) in 0-based coordinates.
  const left = Math.max(0, Math.floor(x1 - 1 - margin * w));
  const top = Math.max(0, Math.floor(y1 - 1 - margin * h));
  const right = Math.min(width, Math.ceil(x2 + margin * w));
  const bottom = Math.min(height, Math.ceil(y2 + margin * h));
  if (right - left < 1 || bottom - top < 1) return null;
  return { left, top, width: right - left, height: bottom - top };
}
