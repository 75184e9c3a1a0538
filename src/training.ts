/**
 * agegender/train: training, evaluation and data preparation, as typed library functions with the CLI's
 * options and defaults (each command's options are declared once, in src/api/). Predicting is the main
 * entry, `agegender`.
 *
 * @example
 * import { preprocessUtkface, finetune, evaluate } from 'agegender/train';
 * await preprocessUtkface({ photoDir: 'data/utkface', outputDir: 'var/utk150', imgSize: 150 });
 * const run = await finetune({ data: ['var/utk150'], modelDir: 'runs/a', progress: (p) => console.log(p.done, '/', p.total) });
 * console.log(await evaluate({ modelDir: run.servingDir, csv: 'var/utk150/test.csv', imgDir: 'var/utk150/crop' }));
 */
export { calibrate, type CalibrateOptions, type CalibrateResult } from './api/calibrate.js';
export { train, type ArchName, type EvalReport, type TrainOptions, type TrainResult } from './api/train.js';
export { evaluate, type EvaluateOptions, type EvaluateResult } from './api/evaluate.js';
export { finetune, type FinetuneOptions, type FinetuneResult } from './api/finetune.js';
export { exportCheckpoint, type ExportOptions, type ExportResult } from './api/export.js';
export { download, type DownloadOptions, type DownloadResult } from './api/download.js';
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
export type { ProgressCallback, ProgressEvent, ProgressOption } from './api/progress.js';
export {
  ImageTooLargeError,
  InvalidImageError,
  InvalidOptionError,
  StoppedError,
  UserError,
} from './util/errors.js';
