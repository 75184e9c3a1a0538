/**
 * agegender as a library (Node.js). The browser build is `agegender/web` (src/web/index.ts).
 *
 * Each function loads its machinery (tfjs, sharp, the trainer) on first call, so importing this module
 * is cheap. Options are plain typed objects with the CLI's defaults; bad input rejects with a typed error
 * (InvalidImageError, ImageTooLargeError, InvalidOptionError, all UserErrors with the CLI's messages).
 *
 * @example
 * import { loadPredictor } from 'agegender';
 * const predictor = await loadPredictor();
 * for (const face of await predictor.predict('photo.jpg')) console.log(face.label, face.box);
 * await predictor.dispose();
 *
 * @example
 * import { preprocessUtkface, train, evaluate } from 'agegender';
 * await preprocessUtkface({ photoDir: 'data/utkface', outputDir: 'var/utk64', imgSize: 64 });
 * const run = await train({ modelDir: 'runs/a', imgDir: 'var/utk64/crop', trainCsv: 'var/utk64/train.csv',
 *   valCsv: 'var/utk64/val.csv', epochs: 4, progress: (p) => console.log(p.done, '/', p.total) });
 * console.log(await evaluate({ modelDir: run.servingDir, csv: 'var/utk64/test.csv', imgDir: 'var/utk64/crop' }));
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
export { calibrate, type CalibrateOptions, type CalibrateResult } from './api/calibrate.js';
export { train, type ArchName, type EvalReport, type TrainOptions, type TrainResult } from './api/train.js';
export { evaluate, type EvaluateOptions, type EvaluateResult } from './api/evaluate.js';
export {
  trainOnBackbone,
  type BackboneTrainOptions,
  type BackboneTrainResult,
} from './api/train-backbone.js';
export {
  preprocess,
  preprocessAaf,
  preprocessCsv,
  preprocessImdbWiki,
  preprocessUtkface,
  type AafPreprocessOptions,
  type CsvPreprocessOptions,
  type ImdbWikiPreprocessOptions,
  type PreprocessOptions,
  type PreprocessOptionsOf,
  type PreprocessSummary,
  type SplitRatio,
  type UtkfacePreprocessOptions,
} from './api/preprocess.js';
export { serve, type RunningServer } from './serve/serve.js';
export { SERVE_OPTIONS, type ServeOptions } from './serve/options.js';
export type { ProgressCallback, ProgressEvent, ProgressOption } from './api/progress.js';
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
export type { BackendChoice } from './engine/backend-choices.js';
export type { DetectorName } from './infer/detector-options.js';
