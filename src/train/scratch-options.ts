import { BACKEND, PRECISION_CHOICES, THREADS } from '../engine/engine-options.js';
import { ARCHS, DEFAULT_ARCH } from '../model/arch-names.js';
import { type CustomSpec, defineOptions, type Resolved } from '../util/option-schema.js';
import { LOG, PROGRESS, SEED, SIGNAL } from '../util/run-options.js';

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

/** The options as the library resolved them, whether to draw progress, and which ones the caller set. */
export type TrainSettings = Resolved<typeof TRAIN_OPTIONS> & {
  json: boolean;
  /** The options the caller gave: a resumed run refuses any of its own settings given another value. */
  given: ReadonlySet<string>;
};
