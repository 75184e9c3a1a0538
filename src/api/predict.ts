import type { PreprocessSpec, FaceCropRule } from '../data/preprocess-spec.js';
import { BACKEND_CHOICES, type BackendChoice } from '../engine/backend-choices.js';
import { DETECTORS, type DetectorName } from '../infer/detector-options.js';
import type { Predictor, PredictorInput } from '../infer/predictor.js';
import type { Box, FaceResult } from '../infer/types.js';
import { ImageTooLargeError, InvalidImageError, InvalidOptionError, UserError } from '../util/errors.js';
import { checkChoice, checkKnownOptions, checkNumber, checkString } from './options.js';

/** Raw pixels, row by row, RGB (3 bytes per pixel) or RGBA (4; alpha is dropped), like an ImageData. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA); by default read from data.length. */
  channels?: 3 | 4;
}

/**
 * What `predict` takes in Node: an image file path, an encoded image in memory (a Buffer or Uint8Array
 * of JPEG, PNG, WebP, AVIF, GIF or TIFF bytes), or raw pixels.
 */
export type ImageInput = string | Uint8Array | RawImage;

/** One face, with the fields of `agegender predict --json`. */
export type Face = FaceResult;
export type { Box };

export type DetectorOption = DetectorName | 'ssd' | 'tiny';

export interface LoadPredictorOptions {
  /** A serving bundle directory (model.json, weights.bin, preprocess.json); default: the bundled model. */
  modelDir?: string;
  /** Tensor engine: 'auto' (tfjs-node when installed, else wasm), 'wasm', 'cpu' or 'tensorflow'. */
  backend?: BackendChoice;
  /** wasm threads (default: all cores); 1 starts about 0.4 s faster, which is what a few photos need. */
  threads?: number;
  /** Face detector; default: the one the bundle was calibrated with, else ssd-mobilenetv1. */
  detector?: DetectorOption;
  /** Detector confidence threshold in [0, 1] for every predict call (default: the detector's, 0.4). */
  minScore?: number;
  /** Largest image accepted, width * height read before decoding (default 40,000,000). */
  maxPixels?: number;
}

export interface PredictOptions {
  /** Find faces first (default true). false: the whole image is one already-cropped face. */
  detect?: boolean;
  /** Detector confidence threshold for this call, in [0, 1]. */
  minScore?: number;
}

/** One input's outcome in `predictEach`: its faces, or the typed error saying why it could not be read. */
export type PredictOutcome =
  { ok: true; faces: Face[] } | { ok: false; error: InvalidImageError | ImageTooLargeError };

export interface FacePredictor {
  /**
   * The faces in one image, left to right. Rejects with InvalidImageError (not an image, corrupt,
   * truncated) or ImageTooLargeError (over maxPixels), naming the input.
   */
  predict(input: ImageInput, opts?: PredictOptions): Promise<Face[]>;
  /** The faces of several images; an unreadable one gets its error and does not stop the others. */
  predictEach(inputs: ImageInput[], opts?: PredictOptions): Promise<PredictOutcome[]>;
  /** The bundle directory in use. */
  readonly modelDir: string;
  /** The bundle's preprocess.json: input size, normalisation, label order, face-crop rule. */
  readonly spec: PreprocessSpec;
  /** The bundle's metrics.json (null when absent). */
  readonly metrics: unknown;
  readonly detector: DetectorName;
  /** The rule that turns a detector box into the model's crop (the bundle's, or the UTKFace fallback). */
  readonly faceCrop: FaceCropRule;
  /** Notes worth showing a user, e.g. that the bundle's face crop was never calibrated. */
  readonly warnings: readonly string[];
  /** The engine it runs on, e.g. `wasm+dnnl (oneDNN 2.6.3, 2 threads, simd), tfjs 4.22.0`. */
  readonly engine: string;
  /** Frees the model's memory; the predictor cannot be used afterwards. */
  dispose(): void;
}

const LOAD_OPTIONS = ['modelDir', 'backend', 'threads', 'detector', 'minScore', 'maxPixels'] as const;
const PREDICT_OPTIONS = ['detect', 'minScore'] as const;

/**
 * Loads the age/gender model and its face detector, ready to `predict`.
 *
 * @example
 * import { loadPredictor } from 'agegender';
 * const predictor = await loadPredictor();                // the bundled model
 * const faces = await predictor.predict('photo.jpg');     // or a Buffer, or { data, width, height }
 * console.log(faces.map((f) => `${f.label} at ${f.box.x},${f.box.y}`)); // [ 'M/46 at 115,206' ]
 * predictor.dispose();
 *
 * @example
 * // A model you trained, the small detector, and a stricter threshold
 * const p = await loadPredictor({ modelDir: 'runs/a/serving/1733200000', detector: 'tiny', minScore: 0.6 });
 */
export async function loadPredictor(opts: LoadPredictorOptions = {}): Promise<FacePredictor> {
  const fn = 'loadPredictor';
  checkKnownOptions(fn, opts, LOAD_OPTIONS);
  checkString(fn, 'modelDir', opts.modelDir);
  checkChoice(fn, 'backend', opts.backend, BACKEND_CHOICES);
  checkNumber(fn, 'threads', opts.threads, { int: true, min: 1, max: 64 });
  checkChoice(fn, 'detector', opts.detector, [...DETECTORS, 'ssd', 'tiny']);
  checkNumber(fn, 'minScore', opts.minScore, { min: 0, max: 1 });
  checkNumber(fn, 'maxPixels', opts.maxPixels, { int: true, min: 1 });
  const { Predictor } = await import('../infer/predictor.js');
  const predictor = await Predictor.load(opts);
  return wrap(predictor, opts.minScore);
}

function wrap(predictor: Predictor, defaultMinScore: number | undefined): FacePredictor {
  let disposed = false;
  const callOptions = (opts: PredictOptions | undefined, fn: string) => {
    if (disposed) throw new UserError(`${fn}: this predictor was disposed`);
    checkKnownOptions(fn, opts, PREDICT_OPTIONS);
    if (opts?.detect !== undefined && typeof opts.detect !== 'boolean')
      throw new InvalidOptionError(`${fn}: option detect must be true or false`);
    checkNumber(fn, 'minScore', opts?.minScore, { min: 0, max: 1 });
    return { detect: opts?.detect ?? true, minScore: opts?.minScore ?? defaultMinScore };
  };
  return {
    async predict(input, opts) {
      const o = callOptions(opts, 'predict');
      const [faces] = await predictor.predictBatch([toPredictorInput(input, 0)], o);
      return faces!;
    },
    async predictEach(inputs, opts) {
      const o = callOptions(opts, 'predictEach');
      if (!Array.isArray(inputs)) throw new InvalidOptionError('predictEach: inputs must be an array');
      const settled = await predictor.predictSettled(
        inputs.map((input, i) => toPredictorInput(input, i)),
        o,
      );
      return settled.map((s) => (s.ok ? { ok: true, faces: s.faces } : { ok: false, error: s.cause }));
    },
    modelDir: predictor.modelDir,
    spec: predictor.spec,
    metrics: predictor.metrics,
    detector: predictor.detectorName,
    faceCrop: predictor.faceCrop,
    warnings: predictor.warnings,
    get engine() {
      return predictor.engine;
    },
    dispose() {
      if (!disposed) predictor.dispose();
      disposed = true;
    },
  };
}

/**
 * An ImageInput as the Node predictor takes it: paths and Buffers as they are, other byte arrays as a
 * Buffer over the same memory, raw pixels as RGB. Anything else is an InvalidImageError naming the input.
 */
function toPredictorInput(input: ImageInput, index: number): PredictorInput {
  const name = typeof input === 'string' ? input : `input ${index + 1}`;
  if (typeof input === 'string') return input;
  if (Buffer.isBuffer(input)) return input;
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (input && typeof input === 'object' && 'data' in input && 'width' in input && 'height' in input) {
    return toRgb(input, name);
  }
  throw new InvalidImageError(
    `${name}: not a readable image: expected a file path, a Buffer / Uint8Array of an encoded image, or { data, width, height } pixels`,
  );
}

function toRgb(img: RawImage, name: string): PredictorInput {
  const { data, width, height } = img;
  const pixels = Number.isInteger(width) && Number.isInteger(height) ? width * height : NaN;
  const channels = img.channels ?? (data?.length === pixels * 4 ? 4 : 3);
  if (
    !(data instanceof Uint8Array || data instanceof Uint8ClampedArray) ||
    (channels !== 3 && channels !== 4)
  )
    throw new InvalidImageError(
      `${name}: not a readable image: raw pixels need data (Uint8Array), width, height and 3 or 4 channels`,
    );
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (channels === 3 || bytes.length !== pixels * 4) return { data: bytes, width, height };
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0, j = 0; i < bytes.length; i += 4, j += 3) {
    rgb[j] = bytes[i]!;
    rgb[j + 1] = bytes[i + 1]!;
    rgb[j + 2] = bytes[i + 2]!;
  }
  return { data: rgb, width, height };
}
