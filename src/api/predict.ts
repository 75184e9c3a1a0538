import type { PreprocessSpec, FaceCropRule } from '../data/preprocess-spec.js';
import type { DetectorName } from '../infer/detector-options.js';
import type { Face as PipelineFace, Settled } from '../infer/types.js';
import type { ImageTensor, RawImage } from '../infer/image-input.js';
import type { Predictor, PredictorInput } from '../infer/predictor.js';
import type { Box } from '../infer/types.js';
import { InvalidImageError, type ImageTooLargeError } from '../util/errors.js';
import { BACKEND, THREADS } from '../engine/engine-options.js';
import { SIGNAL } from '../util/run-options.js';
import {
  DETECTOR,
  LOAD_PROGRESS,
  MAX_PIXELS,
  MIN_SCORE,
  MODEL_DIR,
  PREDICT_OPTIONS,
  type DetectorOption,
} from './predict-options.js';
import { defineOptions, resolveOptions, type OptionsOf } from '../util/option-schema.js';

export type { DetectorOption, RawImage, ImageTensor, Box };
export type { LoadProgress, LoadStage } from './predict-options.js';
export type { PredictProgress } from '../infer/types.js';

/**
 * `loadPredictor`'s options, declared once: the library validates them here, and `agegender predict`
 * makes its --model-dir, --backend, --threads, --detector, --min-score and --max-pixels flags from them.
 */
export const LOAD_PREDICTOR_OPTIONS = defineOptions({
  modelDir: MODEL_DIR,
  backend: BACKEND,
  threads: THREADS,
  detector: DETECTOR,
  minScore: MIN_SCORE,
  /**
   * 268,402,689 (16383 x 16383) by default, read from the header before decoding. It bounds what is
   * decoded, not memory: a 15000 x 15000 JPEG peaked at 970 MB RSS, a 200 x 200 photo at 450 MB
   * (see DEFAULT_MAX_PIXELS in infer/face-pipeline.ts); lower it to bound memory further.
   */
  maxPixels: MAX_PIXELS,
  signal: SIGNAL,
  onProgress: LOAD_PROGRESS,
});

export type LoadPredictorOptions = OptionsOf<typeof LOAD_PREDICTOR_OPTIONS>;
export type PredictOptions = OptionsOf<typeof PREDICT_OPTIONS>;
export { PREDICT_OPTIONS };

/**
 * What `predict` takes in Node: an image file path or `file:` URL, an encoded image in memory (a Buffer or
 * Uint8Array of JPEG, PNG, WebP, AVIF, GIF or TIFF bytes), raw pixels, or a tfjs tensor [h, w, 3] of RGB.
 */
export type ImageInput = string | URL | Uint8Array | RawImage | ImageTensor;

/** One face, with the fields of `agegender predict --json` (src/api/face-schema.ts); `crop` only if asked. */
export type Face = PipelineFace;

/** One input's outcome in `predictEach`: its faces, or the typed error saying why it could not be read. */
export type PredictOutcome =
  { ok: true; faces: Face[] } | { ok: false; error: InvalidImageError | ImageTooLargeError };

export interface FacePredictor extends AsyncDisposable {
  /**
   * The faces in one image, left to right. Rejects with InvalidImageError (not an image, corrupt,
   * truncated) or ImageTooLargeError (over maxPixels), naming the input; with the signal's reason if
   * aborted; with PredictorDisposedError after dispose().
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
  /** The engine it runs on, e.g. `wasm+dnnl (oneDNN 2.6.3, 2 threads, simd), tfjs 4.22.0`; never changes. */
  readonly engine: string;
  /**
   * Refuses new predictions, waits for those in flight, then frees the model's memory and the engine (a
   * later predictor may then start another backend). Also `await using p = await loadPredictor()`.
   */
  dispose(): Promise<void>;
}

/**
 * Loads the age/gender model and its face detector, ready to `predict`. tfjs runs one engine per
 * process: a second predictor joins the running one ('auto' or the same backend); asking for another
 * backend while a predictor is alive rejects with EngineInUseError. Nothing is printed, no process
 * handler is installed.
 *
 * @example
 * import { loadPredictor } from 'agegender';
 * await using predictor = await loadPredictor();          // the bundled model
 * const faces = await predictor.predict('photo.jpg');     // or a Buffer, file: URL, pixels, tensor
 * console.log(faces.map((f) => `${f.label} at ${f.box.x},${f.box.y}`)); // [ 'M/46 at 115,206' ]
 *
 * @example
 * // A model you trained, the small detector, a stricter threshold, a time limit
 * const p = await loadPredictor({ modelDir: 'runs/a/serving/1733200000', detector: 'tiny', minScore: 0.6 });
 * const faces = await p.predict(buffer, { signal: AbortSignal.timeout(5000), crop: true });
 */
export async function loadPredictor(options: LoadPredictorOptions = {}): Promise<FacePredictor> {
  const opts = resolveOptions('loadPredictor', LOAD_PREDICTOR_OPTIONS, options);
  const { Predictor } = await import('../infer/predictor.js');
  const predictor = await Predictor.load(opts);
  return wrap(predictor, opts.minScore);
}

function wrap(predictor: Predictor, defaultMinScore: number | undefined): FacePredictor {
  const callOptions = (opts: PredictOptions | undefined, fn: string) => {
    const o = resolveOptions(fn, PREDICT_OPTIONS, opts);
    return { ...o, minScore: o.minScore ?? defaultMinScore };
  };
  return {
    async predict(input, opts) {
      const o = callOptions(opts, 'predict');
      const [faces] = await predictor.predictBatch([toPredictorInput(input)], o);
      return faces!;
    },
    async predictEach(inputs, opts) {
      const o = callOptions(opts, 'predictEach');
      if (!Array.isArray(inputs)) throw new InvalidImageError('predictEach: inputs must be an array');
      const settled: Settled[] = await predictor.predictSettled(inputs.map(toPredictorInput), o);
      return settled.map((s) => (s.ok ? { ok: true, faces: s.faces } : { ok: false, error: s.cause }));
    },
    modelDir: predictor.modelDir,
    spec: predictor.spec,
    metrics: predictor.metrics,
    detector: predictor.detectorName,
    faceCrop: predictor.faceCrop,
    warnings: predictor.warnings,
    engine: predictor.engine,
    dispose: () => predictor.dispose(),
    [Symbol.asyncDispose]: () => predictor.dispose(),
  };
}

/** Byte arrays as a Buffer over the same memory; the rest for the predictor to read or refuse. */
function toPredictorInput(input: ImageInput): PredictorInput {
  if (input instanceof Uint8Array && !Buffer.isBuffer(input))
    return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return input as PredictorInput;
}
