import type { BackendChoice } from '../engine/backend-choices.js';
import { BACKEND_CHOICES, PRECISION_CHOICES, type Precision } from '../engine/backend-choices.js';
import type { EvalReport } from '../train/evaluate.js';
import type { TrainResult } from '../train/trainer.js';
import { ARCHS, type Arch as ArchName } from '../model/arch-names.js';
import { InvalidOptionError } from '../util/errors.js';
import { checkChoice, checkKnownOptions, checkNumber, checkString } from './options.js';
import { withProgress, type ProgressOption } from './progress.js';

export type { EvalReport, TrainResult };

export type { ArchName };

/** `agegender train`'s options, with the same defaults. */
export interface TrainOptions {
  /** Run directory: metrics.jsonl, learning curves, checkpoints, serving/<timestamp>/. */
  modelDir: string;
  /** Continue the run in modelDir from its latest checkpoint, with the run's own settings. */
  resume?: boolean;
  /** Directory the CSV filenames are relative to (required unless resume). */
  imgDir?: string;
  /** Training rows, schema filename,age,gender (gender 1 = male, 0 = female). */
  trainCsv?: string;
  /** Validation rows, scored in full at every evaluation. */
  valCsv?: string;
  /** Input side of the network (default 64). */
  imageSize?: number;
  /** Network (default resnet-xs). */
  arch?: ArchName;
  /** Passes over the training CSV (default 16), or give numSteps instead. */
  epochs?: number;
  numSteps?: number;
  /** Images per step (default 64). */
  batchSize?: number;
  /** Peak Adam learning rate (default 0.002, basic-cnn 0.001). */
  lr?: number;
  /** Score the validation set every N steps (default 500). */
  evalEvery?: number;
  /** Save a checkpoint every N steps (default 250; 0: only at the end and on abort). */
  checkpointEvery?: number;
  /** Seed of weights, data order and augmentation (default 1). */
  seed?: number;
  backend?: BackendChoice;
  /** 'bf16': bf16 arithmetic inside oneDNN's convolutions (wasm+dnnl on CPUs with bf16); default 'f32'. */
  precision?: Precision;
  /** wasm threads (default all cores). */
  threads?: number;
  /** Random flip / shift of training images (default true). */
  augment?: boolean;
  /** Std (years) of the Gaussian soft age target (default 2; 0 = one-hot). */
  ageSigma?: number;
  /** Aborting stops training like Ctrl-C: a checkpoint is saved, then the promise rejects. */
  signal?: AbortSignal;
  /** Progress in steps; fields carry the loss. */
  progress?: ProgressOption;
  /** Log lines (skipped images, evaluations, the exported bundle); default: none. */
  log?: (line: string) => void;
}

const TRAIN_OPTIONS = [
  'modelDir',
  'resume',
  'imgDir',
  'trainCsv',
  'valCsv',
  'imageSize',
  'arch',
  'epochs',
  'numSteps',
  'batchSize',
  'lr',
  'evalEvery',
  'checkpointEvery',
  'seed',
  'backend',
  'precision',
  'threads',
  'augment',
  'ageSigma',
  'signal',
  'progress',
  'log',
] as const;

/**
 * Trains the multi-task age/gender network and exports a serving bundle (resumable, checkpointed).
 *
 * @example
 * import { train } from 'agegender';
 * const result = await train({
 *   modelDir: 'runs/a', imgDir: 'var/utk64/crop', trainCsv: 'var/utk64/train.csv', valCsv: 'var/utk64/val.csv',
 *   epochs: 4, progress: (p) => console.log(`${p.done}/${p.total} steps, loss ${p.fields.loss}`),
 * });
 * console.log(result.validation.mae, result.servingDir);
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const fn = 'train';
  checkKnownOptions(fn, opts, TRAIN_OPTIONS);
  checkString(fn, 'modelDir', opts?.modelDir, true);
  for (const k of ['imgDir', 'trainCsv', 'valCsv'] as const) checkString(fn, k, opts[k]);
  checkNumber(fn, 'imageSize', opts.imageSize, { int: true, min: 16, max: 1024 });
  checkNumber(fn, 'epochs', opts.epochs, { min: 0.001 });
  checkNumber(fn, 'numSteps', opts.numSteps, { int: true, min: 1 });
  checkNumber(fn, 'batchSize', opts.batchSize, { int: true, min: 1, max: 4096 });
  checkNumber(fn, 'lr', opts.lr, { min: 1e-8, max: 10 });
  checkNumber(fn, 'evalEvery', opts.evalEvery, { int: true, min: 1 });
  checkNumber(fn, 'checkpointEvery', opts.checkpointEvery, { int: true, min: 0 });
  checkNumber(fn, 'seed', opts.seed, { int: true, min: 0, max: 2 ** 32 - 1 });
  checkChoice(fn, 'backend', opts.backend, BACKEND_CHOICES);
  checkChoice(fn, 'precision', opts.precision, PRECISION_CHOICES);
  checkNumber(fn, 'threads', opts.threads, { int: true, min: 1, max: 64 });
  checkNumber(fn, 'ageSigma', opts.ageSigma, { min: 0, max: 50 });
  if (opts.numSteps !== undefined && opts.epochs !== undefined)
    throw new InvalidOptionError(`${fn}: give numSteps or epochs, not both`);
  const { DEFAULT_LR } = await import('../model/index.js');
  checkChoice(fn, 'arch', opts.arch, ARCHS);
  const arch = opts.arch ?? 'resnet-xs';
  const { train: runTraining } = await import('../train/trainer.js');
  return withProgress(opts.progress, (quiet) =>
    runTraining({
      modelDir: opts.modelDir,
      resume: opts.resume,
      imgDir: opts.imgDir,
      trainCsv: opts.trainCsv,
      valCsv: opts.valCsv,
      imageSize: opts.imageSize ?? 64,
      arch,
      numSteps: opts.numSteps,
      epochs: opts.epochs ?? (opts.numSteps === undefined ? 16 : undefined),
      batchSize: opts.batchSize ?? 64,
      lr: opts.lr ?? DEFAULT_LR[arch],
      // On resume, unset values keep the ones the run was started with.
      evalEvery: opts.evalEvery ?? (opts.resume ? undefined : 500),
      checkpointEvery: opts.checkpointEvery ?? (opts.resume ? undefined : 250),
      seed: opts.seed ?? 1,
      backend: opts.backend ?? 'auto',
      precision: opts.precision,
      threads: opts.threads,
      augment: opts.augment ?? true,
      ageSigma: opts.ageSigma ?? 2,
      signal: opts.signal,
      json: quiet,
      log: opts.log ?? (quiet ? () => {} : undefined),
    }),
  );
}
