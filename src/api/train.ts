import { PRECISION_CHOICES } from '../engine/backend-choices.js';
import { ARCHS, DEFAULT_ARCH, type Arch as ArchName } from '../model/arch-names.js';
import type { EvalReport } from '../train/evaluate.js';
import type { TrainResult } from '../train/scratch.js';
import { InvalidOptionError } from '../util/errors.js';
import { BACKEND, LOG, PROGRESS, SEED, SIGNAL, THREADS } from './common-options.js';
import { withProgress } from './progress.js';
import { type CustomSpec, defineOptions, resolveOptions, type OptionsOf } from './schema.js';

export type { ArchName, EvalReport, TrainResult };

/** Library only: called after every step with its number and loss (tests, embedding applications). */
const ON_STEP: CustomSpec<(step: number, loss: number) => void> = {
  type: 'custom',
  cli: false,
  help: 'called after every training step with the step number and its loss',
  expect: 'a function',
  check: (v): v is (step: number, loss: number) => void => typeof v === 'function',
};

/** `agegender train`'s options (a network from scratch), declared once for the CLI and the library. */
export const TRAIN_OPTIONS = defineOptions({
  modelDir: {
    type: 'path',
    required: true,
    arg: 'dir',
    help: 'run directory: metrics.jsonl, learning curves, checkpoints, serving/<timestamp>/',
  },
  imgDir: { type: 'path', arg: 'dir', help: 'directory the CSV filenames are relative to' },
  trainCsv: { type: 'path', arg: 'file', help: 'training rows, CSV filename,age,gender (gender 1 = male)' },
  valCsv: { type: 'path', arg: 'file', help: 'validation rows (scored in full at every eval)' },
  resume: {
    type: 'boolean',
    default: false,
    help: "continue the run in --model-dir from its latest checkpoint, with the run's own settings",
  },
  arch: { type: 'choice', choices: ARCHS, default: DEFAULT_ARCH, help: 'network' },
  imgSize: { type: 'int', min: 16, max: 1024, default: 64, arg: 'px', help: 'input side of the network' },
  epochs: {
    type: 'number',
    min: 0.001,
    max: 100000,
    default: 16,
    help: 'passes over the training CSV (or give --num-steps)',
  },
  numSteps: { type: 'int', min: 1, max: 1e9, help: 'training steps (instead of --epochs)' },
  batchSize: { type: 'int', min: 1, max: 4096, default: 64, help: 'images per step' },
  lr: {
    type: 'number',
    min: 1e-8,
    max: 10,
    exponent: true,
    arg: 'rate',
    defaultHelp: '0.002, basic-cnn 0.001',
    help: 'peak Adam learning rate, warm-up then cosine decay',
  },
  evalEvery: {
    type: 'int',
    min: 1,
    max: 1e9,
    default: 500,
    arg: 'steps',
    defaultHelp: "500, or the resumed run's",
    help: 'score the whole validation set every N steps',
  },
  checkpointEvery: {
    type: 'int',
    min: 0,
    max: 1e9,
    default: 250,
    arg: 'steps',
    defaultHelp: "250, or the resumed run's",
    help: 'save a checkpoint every N steps (0: only at the end and on stop)',
  },
  seed: { ...SEED, default: 1, help: 'seed of weights, data order and augmentation' },
  augment: {
    type: 'boolean',
    default: true,
    help: 'random flip / shift of training images (off with --no-augment)',
  },
  ageSigma: {
    type: 'number',
    min: 0,
    max: 50,
    default: 2,
    arg: 'years',
    help: 'Gaussian soft age target std in years; 0 = one-hot',
  },
  backend: BACKEND,
  precision: {
    type: 'choice',
    choices: PRECISION_CHOICES,
    default: 'f32',
    arg: 'p',
    help: 'arithmetic inside the convolutions (bf16: wasm+dnnl on a CPU with bf16)',
  },
  threads: THREADS,
  signal: SIGNAL,
  progress: PROGRESS,
  log: LOG,
  onStep: ON_STEP,
});

export type TrainOptions = OptionsOf<typeof TRAIN_OPTIONS>;

/**
 * Trains the multi-task age/gender network from scratch and exports a serving bundle (resumable,
 * checkpointed). Aborting `signal` stops it after the current step with a checkpoint (StoppedError).
 *
 * @example
 * import { train } from 'agegender';
 * const result = await train({
 *   modelDir: 'runs/a', imgDir: 'var/utk64/crop', trainCsv: 'var/utk64/train.csv', valCsv: 'var/utk64/val.csv',
 *   epochs: 4, progress: (p) => console.log(`${p.done}/${p.total} steps, loss ${p.fields.loss}`),
 * });
 * console.log(result.validation.mae, result.servingDir);
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const opts = resolveOptions('train', TRAIN_OPTIONS, options);
  const given = new Set(
    Object.entries(options ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k]) => k),
  );
  if (given.has('numSteps') && given.has('epochs'))
    throw new InvalidOptionError('train: give numSteps or epochs, not both');
  const { train: run } = await import('../train/scratch.js');
  return withProgress(opts.progress, (quiet) => run({ ...opts, json: quiet, given }));
}
