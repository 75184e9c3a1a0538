import type { BackboneTrainResult, DataSet } from '../train/backbone-trainer.js';
import {
  BACKEND_CHOICES,
  type BackendChoice,
  WEIGHT_STORAGES,
  type WeightStorage,
} from '../engine/backend-choices.js';
import { InvalidOptionError } from '../util/errors.js';
import { checkChoice, checkKnownOptions, checkNumber, checkString } from './options.js';
import { withProgress, type ProgressOption } from './progress.js';

export type { BackboneTrainResult };

/** `agegender train --backbone dlib-resnet`'s options, with the same defaults. */
export interface BackboneTrainOptions {
  /** Run directory: metrics.jsonl, feature-cache/ (unless cacheDir), serving/<timestamp>/. */
  modelDir: string;
  /** `preprocess` output folders (crop/, train.csv, val.csv), pooled for training, each scored on its own val.csv. */
  data?: string[];
  /** Or give the CSVs directly (as many sets as you like; `name` labels its validation figures). */
  sets?: DataSet[];
  /** The pretrained backbone (default, and so far the only one: 'dlib-resnet'). */
  backbone?: 'dlib-resnet';
  /** Epochs of the heads on frozen features (default 30). */
  epochs?: number;
  /**
   * Epochs that then train every layer, the backbone included, on decoded images with photo-like
   * augmentation (default 0; ~11 min per 27k images on 2 cores with oneDNN, against seconds for the heads).
   */
  fullEpochs?: number;
  /** Peak learning rate of those epochs (default lr / 20). */
  fullLr?: number;
  /** Start from this serving bundle (e.g. 'models/default') instead of training new heads; needs fullEpochs. */
  initFrom?: string;
  /** Images per step of the heads phase (default 64). */
  batchSize?: number;
  /**
   * Images per step of the full phase (default 32): every layer trains there on 150 px images, so the
   * backbone's activations, not the heads', bound the memory a step takes.
   */
  fullBatchSize?: number;
  /** Peak Adam learning rate of the heads (default 0.001). */
  lr?: number;
  /** Hidden units of the heads (default 512; 0 = linear heads). */
  hidden?: number;
  /**
   * 'multi' (default): pooled + the mid-level map at 2x2; 'fine': pooled + the mid-level map at 4x4;
   * 'pooled': the 256 pooled features only.
   */
  features?: 'multi' | 'fine' | 'pooled';
  /**
   * Photo-like augmented copies of each training image (box jitter, blur, JPEG, colour, grey) cached beside
   * the plain and mirrored ones (default 0; each costs one more backbone pass over the training set).
   */
  augmentViews?: number;
  /** Sets of heads trained side by side from different random starts, their logits averaged (default 1). */
  ensemble?: number;
  /** 'float16' halves the bundle's weights.bin (tfjs reads it back as float32); default 'float32'. */
  weights?: WeightStorage;
  dropout?: number;
  ageSigma?: number;
  seed?: number;
  /**
   * Train on the validation rows too (a final refit once the settings are chosen): true for every set, or
   * the names of some (a folder's base name, e.g. 'utk150'). Their validation figures are then on seen
   * faces, and metrics.json lists them as `valSeenInTraining`; only a held-out test split tells how good
   * the model is. Default false.
   */
  includeVal?: boolean | string[];
  /** Where cached backbone features go (default <modelDir>/feature-cache); share it across runs. */
  cacheDir?: string;
  backend?: BackendChoice;
  threads?: number;
  progress?: ProgressOption;
  log?: (line: string) => void;
}

const OPTIONS = [
  'modelDir',
  'data',
  'sets',
  'backbone',
  'epochs',
  'fullEpochs',
  'fullLr',
  'fullBatchSize',
  'initFrom',
  'batchSize',
  'lr',
  'hidden',
  'features',
  'augmentViews',
  'ensemble',
  'weights',
  'dropout',
  'ageSigma',
  'seed',
  'includeVal',
  'cacheDir',
  'backend',
  'threads',
  'progress',
  'log',
];

/**
 * Trains age/gender heads on a pretrained face backbone (features cached, so a few thousand faces train in
 * minutes) and exports a serving bundle whose preprocess.json carries the backbone's preprocessing.
 *
 * @example
 * import { trainOnBackbone } from 'agegender';
 * const r = await trainOnBackbone({ modelDir: 'runs/mine', data: ['var/mine'], epochs: 15 });
 * console.log(r.validation[0].flip.mae, r.servingDir);
 */
export async function trainOnBackbone(opts: BackboneTrainOptions): Promise<BackboneTrainResult> {
  const fn = 'trainOnBackbone';
  checkKnownOptions(fn, opts, OPTIONS);
  checkString(fn, 'modelDir', opts?.modelDir, true);
  checkChoice(fn, 'backbone', opts.backbone, ['dlib-resnet']);
  checkChoice(fn, 'weights', opts.weights, WEIGHT_STORAGES);
  checkChoice(fn, 'features', opts.features, ['multi', 'fine', 'pooled']);
  checkChoice(fn, 'backend', opts.backend, BACKEND_CHOICES);
  checkString(fn, 'cacheDir', opts.cacheDir);
  checkNumber(fn, 'epochs', opts.epochs, { int: true, min: 1, max: 1000 });
  checkNumber(fn, 'fullEpochs', opts.fullEpochs, { int: true, min: 0, max: 1000 });
  checkNumber(fn, 'fullLr', opts.fullLr, { min: 1e-9, max: 1 });
  checkNumber(fn, 'fullBatchSize', opts.fullBatchSize, { int: true, min: 1, max: 4096 });
  checkString(fn, 'initFrom', opts.initFrom);
  if (opts.initFrom && !opts.fullEpochs)
    throw new InvalidOptionError(`${fn}: initFrom needs fullEpochs (the bundle is trained further)`);
  checkNumber(fn, 'batchSize', opts.batchSize, { int: true, min: 1, max: 4096 });
  checkNumber(fn, 'lr', opts.lr, { min: 1e-8, max: 10 });
  checkNumber(fn, 'ensemble', opts.ensemble, { int: true, min: 1, max: 32 });
  checkNumber(fn, 'augmentViews', opts.augmentViews, { int: true, min: 0, max: 16 });
  checkNumber(fn, 'hidden', opts.hidden, { int: true, min: 0, max: 8192 });
  checkNumber(fn, 'dropout', opts.dropout, { min: 0, max: 0.95 });
  checkNumber(fn, 'ageSigma', opts.ageSigma, { min: 0, max: 50 });
  checkNumber(fn, 'seed', opts.seed, { int: true, min: 0, max: 2 ** 32 - 1 });
  checkNumber(fn, 'threads', opts.threads, { int: true, min: 1, max: 64 });
  const iv = opts.includeVal;
  if (
    iv !== undefined &&
    typeof iv !== 'boolean' &&
    !(Array.isArray(iv) && iv.every((n) => typeof n === 'string'))
  )
    throw new InvalidOptionError(`${fn}: includeVal must be true, false or a list of set names`);
  const path = await import('node:path');
  const sets: DataSet[] = [
    ...(opts.data ?? []).map((dir) => ({
      name: path.basename(path.resolve(dir)),
      imgDir: path.join(dir, 'crop'),
      trainCsv: path.join(dir, 'train.csv'),
      valCsv: path.join(dir, 'val.csv'),
    })),
    ...(opts.sets ?? []),
  ];
  if (sets.length === 0)
    throw new InvalidOptionError(`${fn}: give data (preprocess folders) or sets (imgDir, trainCsv, valCsv)`);
  const [{ trainOnBackbone: run }, { UTKFACE_FACE_CROP }] = await Promise.all([
    import('../train/backbone-trainer.js'),
    import('../infer/crop-rule.js'),
  ]);
  return withProgress(opts.progress, (quiet) =>
    run({
      modelDir: opts.modelDir,
      sets,
      backbone: 'dlib-resnet',
      epochs: opts.epochs ?? 30,
      fullEpochs: opts.fullEpochs ?? 0,
      fullLr: opts.fullLr,
      fullBatchSize: opts.fullBatchSize,
      initFrom: opts.initFrom,
      batchSize: opts.batchSize ?? 64,
      lr: opts.lr ?? 1e-3,
      hidden: opts.hidden ?? 512,
      features: opts.features ?? 'multi',
      augmentedViews: opts.augmentViews ?? 0,
      ensemble: opts.ensemble ?? 1,
      weights: opts.weights ?? 'float32',
      dropout: opts.dropout ?? 0.3,
      ageSigma: opts.ageSigma ?? 2,
      seed: opts.seed ?? 1,
      includeVal: opts.includeVal === true ? sets.map((s) => s.name) : opts.includeVal || undefined,
      cacheDir: opts.cacheDir,
      // The crops `preprocess` makes (UTKFace chips, detector-framed AAF) are framed by this rule.
      faceCrop: UTKFACE_FACE_CROP['ssd-mobilenetv1'],
      backend: opts.backend ?? 'auto',
      threads: opts.threads,
      json: quiet,
      log: opts.log ?? (quiet ? () => {} : undefined),
    }),
  );
}
