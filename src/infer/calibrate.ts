import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '../data/image.js';
import { BUNDLE_FILES } from '../data/bundle-format.js';
import { writeFileAtomic } from '../util/atomic.js';
import { readPreprocessSpec } from './bundle.js';
import { UserError, reason } from '../util/errors.js';
import { type DetectOptions, type DetectorName, type FaceDetector } from './detector.js';
import type { FaceCropRule, PreprocessSpec } from '../data/preprocess-spec.js';
import type { Box } from './types.js';

/** Re-exported for callers that calibrate and then read the result back. */
export { readPreprocessSpec };

/**
 * Crop calibration: how does a detector's face box sit inside the crops the model was trained on?
 * Each training crop is placed in the middle of a canvas three times its size (so the detector sees the face
 * with room around it, as in a photo, instead of touching the image border), the detector runs, and
 * for crops with exactly one face we record scale = crop side / max(w, h) and the crop centre's offset
 * from the box centre in box units. The medians are the rule predict applies to every detected face
 * (src/infer/crop-rule.ts cropRegion), so a face in a photo is framed like a training crop.
 */

/** Canvas side = CANVAS_FACTOR * crop side. SSD medians: factor 2 -> scale 1.044, 3 -> 1.050, 4 -> 1.047
 * (40 crops), so the result does not hang on it; 3 let the detector find a face in the most crops (38/40). */
const CANVAS_FACTOR = 3;

/**
 * How the canvas around the crop is filled. 'black' (the default) is also how predict pads a face crop
 * that reaches outside the photo. Measured on 40 UTKFace crops: black and grey give the same median
 * scale within 0.3%; 'copy' (edge smear) makes SSD boxes ~12% larger and 'mirror' makes the detector
 * find the mirrored faces too, so neither is used.
 */
export type CanvasFill = 'mirror' | 'black' | 'grey' | 'copy';

export interface CropMeasurement {
  file: string;
  scale: number;
  dx: number;
  dy: number;
  score: number;
}

export interface CalibrateOptions {
  /** Folder of training crops (e.g. ../shared/data/utkface). */
  imgDir: string;
  /** How many crops to measure, spread evenly over the sorted listing. */
  count?: number;
  detector?: DetectorName;
  fill?: CanvasFill;
  /** Passed to the detector (threshold, input size): calibrate with the settings predict will use. */
  detectOptions?: DetectOptions;
  /** Called after each crop. */
  onProgress?: (done: number, total: number) => void;
}

export interface CalibrationResult {
  rule: FaceCropRule;
  measurements: CropMeasurement[];
  /** Crops in which the detector found no face or several (not used). */
  skipped: number;
  /** Files that could not be read. */
  unreadable: number;
}

const IMAGE_EXT = /\.(jpe?g|png|webp)$/i;

/** Evenly spread, deterministic choice of `count` image files from a folder. */
export async function pickCrops(imgDir: string, count: number): Promise<string[]> {
  let names: string[];
  try {
    names = (await fs.readdir(imgDir)).filter((n) => IMAGE_EXT.test(n)).sort();
  } catch (err) {
    throw new UserError(`${imgDir}: cannot list images: ${reason(err)}`);
  }
  if (names.length === 0) throw new UserError(`${imgDir}: no images (.jpg, .png, .webp) found`);
  const n = Math.min(count, names.length);
  const stride = names.length / n;
  return Array.from({ length: n }, (_, i) => path.join(imgDir, names[Math.floor(i * stride)]!));
}

/**
 * The effective training crop is the centred square of side min(W, H) ('cover' resize); it is put in the
 * middle of a canvas CANVAS_FACTOR times its side. Returns the canvas and where the crop sits in it.
 */
export async function cropOnCanvas(
  file: string,
  fill: CanvasFill = 'black',
  canvasFactor = CANVAS_FACTOR,
): Promise<{ canvas: RgbImage; crop: Box }> {
  const meta = await sharp(file, { failOn: 'error' }).rotate().metadata();
  const rotated = (meta.orientation ?? 1) >= 5;
  const w = (rotated ? meta.height : meta.width) ?? 0;
  const h = (rotated ? meta.width : meta.height) ?? 0;
  const side = Math.min(w, h);
  const pad = Math.round(((canvasFactor - 1) * side) / 2);
  const { data, info } = await sharp(
    await sharp(file, { failOn: 'error' })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .extract({
        left: Math.floor((w - side) / 2),
        top: Math.floor((h - side) / 2),
        width: side,
        height: side,
      })
      .raw()
      .toBuffer(),
    { raw: { width: side, height: side, channels: 3 } },
  )
    .extend({
      top: pad,
      bottom: pad,
      left: pad,
      right: pad,
      extendWith: fill === 'mirror' || fill === 'copy' ? fill : 'background',
      background: fill === 'grey' ? { r: 128, g: 128, b: 128 } : { r: 0, g: 0, b: 0 },
    })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    canvas: {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
    },
    crop: { x: pad, y: pad, w: side, h: side },
  };
}

/** Where a square crop sits relative to a detected box, in the units of FaceCropRule. */
export function measure(crop: Box, box: Box): { scale: number; dx: number; dy: number } {
  return {
    scale: crop.w / Math.max(box.w, box.h),
    dx: (crop.x + crop.w / 2 - (box.x + box.w / 2)) / box.w,
    dy: (crop.y + crop.h / 2 - (box.y + box.h / 2)) / box.h,
  };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median absolute deviation: the robust spread that goes with the median. */
export function mad(values: number[]): number {
  const m = median(values);
  return median(values.map((v) => Math.abs(v - m)));
}

const round = (v: number, digits = 4) => Number(v.toFixed(digits));

/** Runs the detector over training crops and returns the crop rule (medians) with the raw measurements. */
export async function calibrateFaceCrop(
  detector: FaceDetector,
  opts: CalibrateOptions,
): Promise<CalibrationResult> {
  const files = await pickCrops(opts.imgDir, opts.count ?? 500);
  const fill = opts.fill ?? 'black';
  const measurements: CropMeasurement[] = [];
  let skipped = 0;
  let unreadable = 0;
  for (const [i, file] of files.entries()) {
    let placed: { canvas: RgbImage; crop: Box };
    try {
      placed = await cropOnCanvas(file, fill);
    } catch {
      unreadable++;
      opts.onProgress?.(i + 1, files.length);
      continue;
    }
    const found = await detector.detect(placed.canvas, opts.detectOptions);
    if (found.length === 1) {
      const m = measure(placed.crop, found[0]!.box);
      measurements.push({ file: path.basename(file), ...m, score: found[0]!.score });
    } else {
      skipped++;
    }
    opts.onProgress?.(i + 1, files.length);
  }
  if (measurements.length < Math.min(10, files.length)) {
    throw new UserError(
      `${opts.imgDir}: the ${detector.name} detector found a single face in only ${measurements.length} of ` +
        `${files.length} crops; cannot calibrate (are these face crops?)`,
    );
  }
  const col = (k: 'scale' | 'dx' | 'dy') => measurements.map((m) => m[k]);
  const rule: FaceCropRule = {
    detector: detector.name,
    scale: round(median(col('scale'))),
    dx: round(median(col('dx'))),
    dy: round(median(col('dy'))),
    samples: measurements.length,
    tried: files.length,
    mad: { scale: round(mad(col('scale'))), dx: round(mad(col('dx'))), dy: round(mad(col('dy'))) },
    calibratedAt: new Date().toISOString(),
  };
  return { rule, measurements, skipped, unreadable };
}

/** Stores the rule as the bundle's faceCrop; the file is replaced atomically, other fields kept as they were. */
export async function writeFaceCrop(bundleDir: string, rule: FaceCropRule): Promise<PreprocessSpec> {
  const spec = await readPreprocessSpec(bundleDir);
  const next: PreprocessSpec = { ...spec, faceCrop: rule };
  await writeFileAtomic(path.join(bundleDir, BUNDLE_FILES.preprocess), JSON.stringify(next, null, 2) + '\n');
  return next;
}
