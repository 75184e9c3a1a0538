/**
 * agegender as a library (Node.js): predicting and serving. Training and data preparation are the entry
 * `agegender/train` (src/training.ts), so an application that only predicts loads neither their code nor
 * their types; the browser build is `agegender/web` (src/web/index.ts).
 *
 * Each function loads its machinery (tfjs, sharp, fastify) on first call, so importing this module is
 * cheap. Options are plain typed objects with the CLI's defaults; bad input rejects with a typed error
 * (InvalidImageError, ImageTooLargeError, InvalidOptionError, all UserErrors with the CLI's messages).
 *
 * @example
 * import { loadPredictor } from 'agegender';
 * await using predictor = await loadPredictor();
 * for (const face of await predictor.predict('photo.jpg')) console.log(face.label, face.box);
 */
export {
  loadPredictor,
  type DetectorOption,
  type Face,
  type Box,
  type FacePredictor,
  type ImageInput,
  type ImageTensor,
  type LoadPredictorOptions,
  type LoadProgress,
  type PredictOptions,
  type PredictOutcome,
  type PredictProgress,
  type RawImage,
} from './api/predict.js';
export { serve, type RunningServer } from './serve/serve.js';
export { SERVE_OPTIONS, type ServeOptions } from './serve/options.js';
export {
  EngineInUseError,
  ImageTooLargeError,
  InvalidImageError,
  InvalidOptionError,
  PredictorDisposedError,
  UserError,
} from './util/errors.js';
export { BUNDLE_FILES } from './data/bundle-format.js';
export type { FaceCropRule, Normalization, PreprocessSpec } from './data/preprocess-spec.js';
export type { BackendChoice } from './engine/engine-options.js';
export type { DetectorName } from './infer/detector-options.js';
