import { BACKEND, THREADS, WEIGHT_STORAGES } from '../../engine/engine-options.js';
import { BACKBONE_NAMES } from '../../model/backbones/index.js';
import { FEATURE_KINDS } from '../../model/heads-recipe.js';
import { type CustomSpec, defineOptions, type Resolved } from '../../util/option-schema.js';
import { LOG, PROGRESS, SEED, SIGNAL } from '../../util/run-options.js';

/** `--include-val`: every set (true, or the flag alone), or the names of some. */
const INCLUDE_VAL = {
  type: 'custom',
  arg: 'sets...',
  optionalArg: true,
  default: false,
  expect: 'true, false or a list of set names',
  check: (v): v is boolean | string[] =>
    typeof v === 'boolean' || (Array.isArray(v) && v.every((n) => typeof n === 'string' && n.length > 0)),
  help: 'train on the validation rows too, of every set or of the named ones (a final refit; metrics.json lists them as valSeenInTraining)',
} as const satisfies CustomSpec<boolean | string[]>;

/**
 * `agegender finetune`'s options, declared once for the CLI and the library. The defaults are the
 * default model's recipe (models/default/MODEL_CARD.md), so `--data` and `--model-dir` reproduce it.
 */
export const FINETUNE_OPTIONS = defineOptions({
  data: {
    type: 'paths',
    required: true,
    arg: 'dir',
    help: 'a `preprocess` output folder (crop/, train.csv, val.csv); repeat to pool datasets, each scored on its own val.csv',
  },
  modelDir: {
    type: 'path',
    required: true,
    arg: 'dir',
    help: 'run directory: metrics.jsonl, feature-cache/, serving/<timestamp>/',
  },
  backbone: {
    type: 'choice',
    choices: BACKBONE_NAMES,
    default: 'dlib-resnet',
    cli: false,
    help: 'the pretrained network under the heads (src/model/backbones/)',
  },
  epochs: {
    type: 'int',
    min: 1,
    max: 1000,
    default: 15,
    help: 'epochs of the heads on the cached backbone features',
  },
  batchSize: { type: 'int', min: 1, max: 4096, default: 64, help: 'images per step of the heads' },
  lr: {
    type: 'number',
    min: 1e-8,
    max: 10,
    exponent: true,
    default: 0.001,
    arg: 'rate',
    help: 'peak Adam learning rate of the heads (warm-up, then cosine decay)',
  },
  hidden: {
    type: 'int',
    min: 0,
    max: 8192,
    default: 512,
    arg: 'units',
    help: 'hidden units of the heads (0 = linear heads)',
  },
  dropout: {
    type: 'number',
    min: 0,
    max: 0.95,
    default: 0.3,
    arg: 'p',
    help: 'dropout before and after the hidden layer',
  },
  features: {
    type: 'choice',
    choices: FEATURE_KINDS,
    default: 'fine',
    arg: 'kind',
    help: "what the heads see: pooled features + the mid-level map at 4x4 ('fine'), at 2x2 ('multi'), or none ('pooled')",
  },
  augmentViews: {
    type: 'int',
    min: 0,
    max: 16,
    default: 2,
    help: 'photo-like augmented copies per training image (box jitter, blur, JPEG, colour), cached beside plain and mirrored',
  },
  ensemble: {
    type: 'int',
    min: 1,
    max: 32,
    default: 4,
    arg: 'k',
    help: 'sets of heads trained side by side, logits averaged',
  },
  weights: {
    type: 'choice',
    choices: WEIGHT_STORAGES,
    default: 'float16',
    arg: 'dtype',
    help: 'how the bundle stores its weights (float16: half the size, read back as float32)',
  },
  ageSigma: {
    type: 'number',
    min: 0,
    max: 50,
    default: 2,
    cli: false,
    help: 'std (years) of the Gaussian soft age target; 0 = one-hot',
  },
  ageBalance: {
    type: 'number',
    min: 0,
    max: 2,
    default: 0.5,
    cli: false,
    arg: 'power',
    help: "weight each row's age term by (1 / its age band's share of the rows)^power, bands 0-2, 3-9, 10-19, ..., 70+ (0 = unweighted), in both phases",
  },
  centredAgeTargets: {
    type: 'boolean',
    default: true,
    cli: false,
    help: "soft age targets whose mean is the true age near 0 and 100 too (the Gaussian's centre moved outward); false = cut and renormalised",
  },
  seed: { ...SEED, default: 1, help: "seed of the heads' weights, data order and views" },
  includeVal: INCLUDE_VAL,
  featureCache: {
    type: 'path',
    arg: 'dir',
    defaultHelp: '<model-dir>/feature-cache',
    help: 'where cached backbone features go; share it across runs (entries are keyed by image content and settings)',
  },
  fullEpochs: {
    type: 'int',
    min: 0,
    max: 1000,
    default: 3,
    help: 'then train every layer, backbone included, on decoded augmented images (~40 images/s on 2 cores; 0: the heads only)',
  },
  fullLr: {
    type: 'number',
    min: 1e-9,
    max: 1,
    exponent: true,
    arg: 'rate',
    defaultHelp: '--lr / 20',
    help: 'peak learning rate of the --full-epochs',
  },
  fullBatchSize: {
    type: 'int',
    min: 1,
    max: 4096,
    default: 32,
    help: 'images per step of the --full-epochs',
  },
  initFrom: {
    type: 'path',
    arg: 'bundle',
    help: 'start the --full-epochs from this serving bundle (e.g. models/default) instead of new heads',
  },
  backend: BACKEND,
  threads: THREADS,
  signal: SIGNAL,
  progress: PROGRESS,
  log: LOG,
});

/** The options as the library resolved them (schema defaults filled in), and whether to draw progress. */
export type FinetuneSettings = Resolved<typeof FINETUNE_OPTIONS> & { json: boolean };

/** One `preprocess` output folder: crop/, train.csv, val.csv; named by its folder's base name. */
export interface DataSet {
  name: string;
  imgDir: string;
  trainCsv: string;
  valCsv: string;
}
