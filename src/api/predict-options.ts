import { DEFAULT_MIN_SCORE, DETECTORS } from '../infer/detector-options.js';
import { DEFAULT_MAX_PIXELS } from '../infer/face-pipeline.js';
import type { PredictProgress } from '../infer/types.js';
import { SIGNAL } from '../util/run-options.js';
import { defineOptions, type CustomSpec } from '../util/option-schema.js';

/**
 * Prediction options shared by the Node library (api/predict.ts), the predict CLI (cli/predict.ts, flags
 * made from these) and the browser build (src/web/): declared once, so the page, the library and the
 * command line take the same ranges and defaults. Pure: no Node API.
 */

export const DETECTOR_CHOICES = [...DETECTORS, 'ssd', 'tiny'] as const;
export type DetectorOption = (typeof DETECTOR_CHOICES)[number];

/** A serving bundle's folder (loadPredictor, predict, serve). */
export const MODEL_DIR = {
  type: 'path',
  arg: 'dir',
  help: 'serving bundle (model.json, weights.bin, preprocess.json)',
  defaultHelp: 'the bundled model',
} as const;

export const DETECTOR = {
  type: 'choice',
  choices: DETECTOR_CHOICES,
  arg: 'name',
  help: 'face detector: ssd (ssd-mobilenetv1) or tiny (tiny-face-detector)',
  defaultHelp: 'the one the model was calibrated with, else ssd-mobilenetv1',
} as const;

/** Closed range: 0 keeps every candidate the detector reports, 1 keeps none (no score exceeds 1). */
export const MIN_SCORE = {
  type: 'number',
  min: 0,
  max: 1,
  arg: 'p',
  help: 'detector confidence threshold, 0..1',
  defaultHelp: String(DEFAULT_MIN_SCORE['ssd-mobilenetv1']),
} as const;

export const MAX_PIXELS = {
  type: 'int',
  min: 1,
  max: Number.MAX_SAFE_INTEGER,
  default: DEFAULT_MAX_PIXELS,
  help: 'largest image accepted, width x height read from its header before decoding (16383 x 16383)',
} as const;

const DETECT = {
  type: 'boolean',
  default: true,
  help: 'find faces first (default); turned off, each image is one already-cropped face',
} as const;

/** Library only: each face also carries `crop`, the pixels the network saw. */
const CROP = {
  type: 'boolean',
  cli: false,
  default: false,
  help: "add each face's crop (the network's input, RGB { data, width, height }) as `crop`",
} as const;

/** Library only: called after each input is detected and cropped. */
const PREDICT_PROGRESS: CustomSpec<(p: PredictProgress) => void> = {
  type: 'custom',
  cli: false,
  help: 'called with { done, total } as each image is detected and cropped',
  expect: 'a function',
  check: (v): v is (p: PredictProgress) => void => typeof v === 'function',
};

/** Stages of loading, in order. */
export type LoadStage = 'engine' | 'model';
export interface LoadProgress {
  stage: LoadStage;
  done: number;
  total: number;
}

/** Library only: called as each stage of loading is done. */
export const LOAD_PROGRESS: CustomSpec<(p: LoadProgress) => void> = {
  type: 'custom',
  cli: false,
  help: "called with { stage, done, total } as each stage of loading ('engine', then 'model') is done",
  expect: 'a function',
  check: (v): v is (p: LoadProgress) => void => typeof v === 'function',
};

/** The options of each `predict` / `predictEach` call, in Node and in the browser. */
export const PREDICT_OPTIONS = defineOptions({
  detect: DETECT,
  minScore: MIN_SCORE,
  crop: CROP,
  signal: SIGNAL,
  onProgress: PREDICT_PROGRESS,
});
