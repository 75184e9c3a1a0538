import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { defaultPreprocessSpec, type FaceCropRule, type PreprocessSpec } from '../data/preprocess-spec.js';
import { readLabelsCsv, type LabelledImage } from '../data/labels-csv.js';
import { createAdam, setLearningRate } from '../engine/adam.js';
import type { WeightStorage } from '../engine/backend-choices.js';
import {
  DLIB_INPUT_SIZE,
  DLIB_NORMALIZATION,
  DLIB_TRUNK_END,
  DLIB_TRUNK_SHAPE,
  buildDlibResNet,
} from '../model/dlib-resnet.js';
import { loadBundle } from '../infer/bundle.js';
import { headEnsemble } from '../model/heads.js';
import { FlipMetricsAccumulator, summarizeReports, type SetReport } from '../model/metrics.js';
import { mulberry32, shuffleInPlace } from '../util/random.js';
import { exists } from '../util/exists.js';
import { round } from '../util/round.js';
import { UserError } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { type BackendChoice, setupBackend } from './backend-setup.js';
import { FLIPPED_VIEW, PLAIN_VIEW, cachedFeatures, type FeatureSet } from './feature-cache.js';
import { learningRateAt } from './schedule.js';
import { fineTuneOnImages } from './fine-tune.js';
import { writeServingBundle } from './serving-export.js';
import { type StepBatch, jointTrainStep } from './step.js';

/**
 * Training on a pretrained face backbone (the dlib face-recognition ResNet, src/model/dlib-resnet.ts):
 *
 * 1. The trunk (stem + the 32/64/128-wide stages, ~90% of the FLOPs) runs once per image and view (as is,
 *    mirrored); its 8x8x128 maps are cached on disk (feature-cache.ts).
 * 2. Phase "heads": the tail (the two 256-wide stages + pooling) is frozen too, its 256 pooled features are
 *    computed once from the cached maps, and the age/gender heads train on them: seconds per epoch.
 * 3. Phase "full" (optional, `fullEpochs`, fine-tune.ts): every layer, the trunk included, trains on
 *    decoded images with photo-like augmentation, at a twentieth of the heads' learning rate. Slow
 *    (~40 images/s on 2 cores) but the only phase that can reshape the identity features themselves;
 *    `initFrom` starts it from an existing bundle (models/default, say) instead of phases 1-2.
 * 4. The exported bundle is one ordinary layers model, image -> trunk -> tail -> heads, with the backbone's preprocessing (150 px, mean-RGB / 255) in its preprocess.json.
 *
 * Several datasets can be given (e.g. UTKFace and AAF); each is scored on its own validation CSV, and the
 * training rows of all are pooled.
 */

export interface DataSet {
  name: string;
  imgDir: string;
  trainCsv: string;
  valCsv: string;
}

export interface BackboneTrainOptions {
  modelDir: string;
  sets: DataSet[];
  backbone: 'dlib-resnet';
  /** Epochs of phase "heads" (frozen backbone). */
  epochs: number;
  batchSize: number;
  lr: number;
  /** Epochs of phase "full": every layer, backbone included, on decoded augmented images (default 0). */
  fullEpochs?: number;
  /** Peak learning rate of phase "full" (default lr / 20). */
  fullLr?: number;
  /** Images per step of phase "full" (default 32). */
  fullBatchSize?: number;
  /**
   * Start from this serving bundle instead of training heads on cached features (phases 1-3 skipped; needs
   * fullEpochs): e.g. models/default, trained further on your own faces.
   */
  initFrom?: string;
  /**
   * What the heads see: 'pooled' = the backbone's 256 globally pooled features (identity-trained, the
   * descriptor's input); 'multi' = those plus the trunk's 8x8x128 map average-pooled to 2x2 (512 more
   * values of mid-level texture and shape, which age needs and identity training learns to ignore);
   * 'fine' = the same map at 4x4 (2,048 values: where on the face, not only what).
   */
  features: 'pooled' | 'multi' | 'fine';
  /** How weights.bin stores the weights: float32, or float16 (half the size; default float32). */
  weights?: WeightStorage;
  /** Sets of heads trained side by side from different starting points, logits averaged (default 1). */
  ensemble?: number;
  /** Hidden units of the heads (0 = linear heads). */
  hidden: number;
  dropout: number;
  ageSigma: number;
  seed: number;
  /**
   * Names of the sets whose validation rows are trained on too (a final refit; metrics.json lists them as
   * valSeenInTraining, since their figures are then on seen faces). Default none.
   */
  includeVal?: string[];
  /**
   * Photo-like augmented copies of every training image (box jitter, blur, JPEG, colour, grey), cached
   * beside the plain and mirrored views; each step draws one of all the views of an image at random.
   */
  augmentedViews?: number;
  /** Where cached backbone features go (default <modelDir>/feature-cache); share it across runs. */
  cacheDir?: string;
  /** Face-crop rule stored in the bundle: how predict frames detected faces like the training crops. */
  faceCrop: FaceCropRule | null;
  backend: BackendChoice;
  threads?: number;
  json?: boolean;
  log?: (line: string) => void;
}

export type { SetReport };

export interface BackboneTrainResult {
  servingDir: string;
  trainImages: number;
  wallSeconds: number;
  validation: SetReport[];
}

const BACKBONE_ID = `dlib-resnet/face-api-1.7/${DLIB_TRUNK_END}`;

export async function trainOnBackbone(opts: BackboneTrainOptions): Promise<BackboneTrainResult> {
  const log = opts.log ?? (opts.json ? () => {} : (l: string) => process.stderr.write(l + '\n'));
  const t0 = Date.now();
  if (opts.sets.length === 0) throw new UserError('no training data given');
  if (opts.initFrom && !((opts.fullEpochs ?? 0) > 0))
    throw new UserError('starting from a bundle needs full epochs: it is trained further on images');
  if (await exists(path.join(opts.modelDir, 'serving')))
    throw new UserError(`${opts.modelDir}: already holds a run; use another --model-dir`);
  // Read every CSV first: a wrong path fails in a second, before the backbone is built.
  const refit = refitSets(opts);
  const csvRows = await Promise.all(
    opts.sets.map(async (set) => ({
      train: await readLabelsCsv(set.trainCsv),
      val: await readLabelsCsv(set.valCsv),
    })),
  );
  const engine = await setupBackend(opts.backend, opts.threads);
  await fs.mkdir(opts.modelDir, { recursive: true });
  const history: object[] = [];
  const record = async (line: object) => {
    history.push(line);
    await fs.appendFile(path.join(opts.modelDir, 'metrics.jsonl'), JSON.stringify(line) + '\n');
  };
  const start = opts.initFrom
    ? await startFromBundle(opts.initFrom, engine, log)
    : await trainHeads(opts, csvRows, refit, engine, record, log);
  const { spec, model } = start;
  let validation = start.validation;
  let trainImages = start.trainImages ?? 0;

  // Phase "full" trains on decoded images: the training rows and the validation rows of the refit sets.
  const part = (which: 'train' | 'val') =>
    opts.sets.map((set, i) => ({ name: set.name, imgDir: set.imgDir, rows: csvRows[i]![which] }));
  const val = part('val');
  const fitOn = [...part('train'), ...val.filter((_, i) => refit[i])];

  const onImages = {
    ageSigma: opts.ageSigma,
    seed: opts.seed,
    json: opts.json,
    log,
    onEpoch: record,
  };

  // 3. Phase "full": the whole network on decoded, augmented images.
  if ((opts.fullEpochs ?? 0) > 0) {
    ({ validation, trainImages } = await fineTuneOnImages(model, spec, fitOn, val, {
      ...onImages,
      epochs: opts.fullEpochs!,
      batchSize: opts.fullBatchSize ?? 32,
      lr: opts.fullLr ?? opts.lr / 20,
    }));
  }

  // 4. Export image -> age/gender as one layers model. Test-time flip averaging is switched on in the
  // bundle when it scored better on validation (it doubles the network's cost per face).
  const gain = validation!.reduce((g, v) => g + (v.mae - v.flip.mae), 0) / validation!.length;
  spec.flipAverage = gain > 0.02;
  log(
    `test-time flip: validation MAE ${gain >= 0 ? '-' : '+'}${Math.abs(gain).toFixed(3)} years -> ${spec.flipAverage ? 'on' : 'off'}`,
  );
  const metrics = {
    arch: 'dlib-resnet',
    backbone: {
      id: BACKBONE_ID,
      source: '@vladmandic/face-api model/face_recognition_model (dlib, public domain)',
    },
    imageSize: DLIB_INPUT_SIZE,
    settings: { ...opts, log: undefined },
    trainImages,
    ...(refit.some(Boolean)
      ? { valSeenInTraining: opts.sets.filter((_, i) => refit[i]).map((s) => s.name) }
      : {}),
    validation,
    history,
  };
  const servingDir = await writeServingBundle(model, opts.modelDir, spec, metrics, opts.weights);
  log(`exported ${servingDir}`);
  return { servingDir, trainImages, wallSeconds: (Date.now() - t0) / 1000, validation: validation! };
}

interface Start {
  /** The image -> [age, gender] model, ready to export or to train further. */
  model: tf.LayersModel;
  spec: PreprocessSpec;
  /** Its validation figures (absent when it comes from a bundle and phase "full" will score it). */
  validation?: SetReport[];
  /** Readable training images (absent when no cache was built). */
  trainImages?: number;
}

/** `initFrom`: a serving bundle (this trainer's, or any with the bundle's preprocessing) as the start. */
async function startFromBundle(dir: string, engine: string, log: (line: string) => void): Promise<Start> {
  const { model, spec } = await loadBundle(dir);
  log(`train: starting from ${dir} (${(model.countParams() / 1e6).toFixed(2)}M params), ${engine}`);
  return { model, spec };
}

/** Phases 1-2: the heads on cached trunk maps; returns the whole model. */
async function trainHeads(
  opts: BackboneTrainOptions,
  csvRows: { train: LabelledImage[]; val: LabelledImage[] }[],
  /** Per set: are its validation rows trained on too (refitSets)? */
  refit: boolean[],
  engine: string,
  record: (line: object) => Promise<void>,
  log: (line: string) => void,
): Promise<Start> {
  const spec: PreprocessSpec = {
    ...defaultPreprocessSpec(DLIB_INPUT_SIZE),
    normalization: DLIB_NORMALIZATION,
    faceCrop: opts.faceCrop,
  };
  const dlib = await buildDlibResNet();
  const image = tf.input({ shape: [DLIB_INPUT_SIZE, DLIB_INPUT_SIZE, 3], name: 'image' });
  const trunk = tf.model({ inputs: image, outputs: dlib.trunk(image), name: 'dlib_trunk' });
  log(`train: dlib-resnet backbone (face-api weights), ${engine}; caching trunk features`);

  // 1. Cached trunk maps of every train / val image, both views.
  const cacheDir = opts.cacheDir ?? path.join(opts.modelDir, 'feature-cache');
  const features = async (set: DataSet, part: 'train' | 'val') => {
    const rows = csvRows[opts.sets.indexOf(set)]![part];
    return cachedFeatures(trunk, rows, {
      cacheDir,
      backboneId: BACKBONE_ID,
      imgDir: set.imgDir,
      spec,
      json: opts.json,
      label: `${set.name}-${part}`,
      augmentedViews: part === 'train' ? (opts.augmentedViews ?? 0) : 0,
      onSkip: (file, why) => log(`skipped ${file}: ${why}`),
    });
  };
  const train: FeatureSet[] = [];
  const val: FeatureSet[] = [];
  for (const set of opts.sets) {
    train.push(await features(set, 'train'));
    val.push(await features(set, 'val'));
  }
  const trainImages = [...train, ...val.filter((_, i) => refit[i])].reduce((n, s) => n + s.rows.length, 0);
  if (trainImages === 0) throw new UserError('no readable training images');
  if (val.some((v) => v.rows.length === 0))
    throw new UserError(
      `${opts.sets[val.findIndex((v) => v.rows.length === 0)]!.valCsv}: no readable validation images`,
    );

  // 2. Phase "heads": pooled tail features, computed once.
  const mapIn = tf.input({ shape: [...DLIB_TRUNK_SHAPE], name: 'trunk_map' });
  const describe = featureFn(dlib.tail, opts.features);
  const pooledOut = describe(mapIn);
  const tailModel = tf.model({ inputs: mapIn, outputs: pooledOut, name: 'dlib_tail' });
  const ensemble = headEnsemble(
    {
      hidden: opts.hidden,
      dropout: opts.dropout,
      seed: opts.seed,
      normalizeInput: true,
    },
    opts.ensemble ?? 1,
  );
  const heads = ensemble.averaged;
  // Trained with every member's own outputs (and loss); scored and served with their average.
  const trainable = (input: tf.SymbolicTensor, features: tf.SymbolicTensor, name: string) =>
    tf.model({ inputs: input, outputs: ensemble.each(features).flat(), name });
  const featIn = tf.input({ shape: [pooledOut.shape[1]!], name: 'features' });
  const headModel = tf.model({ inputs: featIn, outputs: heads(featIn), name: 'heads' });
  const pool = (s: FeatureSet) => mapFeatures(tailModel, s);
  const trainPooled = train.map(pool);
  const valPooled = val.map(pool);
  const score = async (m: tf.LayersModel, sets: FeatureSet[]) =>
    Promise.all(sets.map((s, i) => scoreSet(m, s, opts.sets[i]!.name)));
  const fit = async (
    m: tf.LayersModel,
    scored: tf.LayersModel,
    sets: FeatureSet[],
    valSets: FeatureSet[],
    epochs: number,
    lr: number,
    phase: string,
  ) =>
    trainEpochs(m, sets, use, { ...opts, epochs, lr, phase }, async (epoch, trainLoss) => {
      const reports = await score(scored, valSets);
      const line = { phase, epoch, trainLoss: round(trainLoss, 4), sets: reports };
      await record(line);
      log(`\n${phase} epoch ${epoch}/${epochs}: loss ${line.trainLoss} | ${summarizeReports(reports)}`);
    });
  // includeVal: those sets' validation rows join the training rows (a final refit); they are still scored.
  const fitPooled = [...trainPooled, ...valPooled.filter((_, i) => refit[i])];
  for (const [i, set] of opts.sets.entries())
    if (refit[i])
      log(
        `train: ${set.name}'s validation rows are trained on too: its validation figures are on seen faces`,
      );
  const use = allRows(fitPooled);
  const headTrain = trainable(featIn, featIn, 'heads_train');
  await fit(headTrain, headModel, fitPooled, valPooled, opts.epochs, opts.lr, 'heads');

  const tailHeads = tf.model({ inputs: mapIn, outputs: heads(pooledOut), name: 'tail_heads' });
  const validation = await score(tailHeads, val);
  const model = tf.model({
    inputs: image,
    outputs: heads(describe(dlib.trunk(image))),
    name: 'agegender_dlib',
  });
  return {
    model,
    spec,
    validation,
    trainImages,
  };
}

/** Per set: are its validation rows trained on too (includeVal)? Unknown names are a one-line error. */
function refitSets(opts: BackboneTrainOptions): boolean[] {
  const names = opts.includeVal ?? [];
  const unknown = names.find((n) => !opts.sets.some((s) => s.name === n));
  if (unknown)
    throw new UserError(
      `--include-val ${unknown}: no such data set (the sets are ${opts.sets.map((s) => s.name).join(', ')})`,
    );
  return opts.sets.map((s) => names.includes(s.name));
}

/** The layers from the trunk's map to the heads' input (see BackboneTrainOptions.features). */
function featureFn(
  tail: (map: tf.SymbolicTensor) => tf.SymbolicTensor,
  kind: 'pooled' | 'multi' | 'fine',
): (map: tf.SymbolicTensor) => tf.SymbolicTensor {
  if (kind === 'pooled') return tail;
  const side = kind === 'fine' ? 2 : 4;
  const pool = tf.layers.averagePooling2d({ poolSize: side, strides: side, name: 'mid_pool' });
  const flat = tf.layers.flatten({ name: 'mid_flat' });
  const join = tf.layers.concatenate({ name: 'features' });
  return (map) =>
    join.apply([tail(map), flat.apply(pool.apply(map)) as tf.SymbolicTensor]) as tf.SymbolicTensor;
}

/** Runs the frozen tail over every cached map (both views): the 256 pooled features per view. */
function mapFeatures(tailModel: tf.LayersModel, s: FeatureSet): FeatureSet {
  const outPer = tailModel.outputs[0]!.shape[1]!;
  const data = new Float32Array(s.rows.length * s.views * outPer);
  const chunk = 256;
  for (let i = 0; i < s.rows.length * s.views; i += chunk) {
    const k = Math.min(chunk, s.rows.length * s.views - i);
    const y = tf.tidy(
      () =>
        tailModel.predict(
          tf.tensor(s.data.subarray(i * s.per, (i + k) * s.per), [k, ...s.shape]),
        ) as tf.Tensor,
    );
    data.set(y.dataSync(), i * outPer);
    y.dispose();
  }
  return { rows: s.rows, views: s.views, data, per: outPer, shape: [outPer], skipped: s.skipped };
}

/** The rows at pooled indices `idx` (over all sets), each in a random one of its views (the augmentation). */
function gather(sets: FeatureSet[], idx: Uint32Array, rand: () => number): StepBatch {
  const per = sets[0]!.per;
  const x = new Float32Array(idx.length * per);
  const ages = new Int32Array(idx.length);
  const genders = new Int32Array(idx.length);
  idx.forEach((global, j) => {
    const { set: s, row: i } = locate(sets, global);
    const set = sets[s]!;
    const view = Math.min(set.views - 1, Math.floor(rand() * set.views));
    const at = (i * set.views + view) * per;
    x.set(set.data.subarray(at, at + per), j * per);
    ages[j] = set.rows[i]!.age;
    genders[j] = set.rows[i]!.gender;
  });
  return { x, shape: sets[0]!.shape, ages, genders };
}

/** Metrics on one set: on the plain view, and on the average of the plain and mirrored views. */
async function scoreSet(model: tf.LayersModel, s: FeatureSet, name: string): Promise<SetReport> {
  const scores = new FlipMetricsAccumulator();
  const chunk = 256;
  const V = s.views;
  for (let i = 0; i < s.rows.length; i += chunk) {
    const k = Math.min(chunk, s.rows.length - i);
    const rows = s.rows.slice(i, i + k);
    scores.addPredictions(
      model,
      () => tf.tensor(s.data.subarray(i * V * s.per, (i + k) * V * s.per), [k * V, ...s.shape]),
      (j) => j * V + PLAIN_VIEW,
      (j) => j * V + FLIPPED_VIEW,
      rows.map((r) => r.age),
      rows.map((r) => r.gender),
    );
  }
  return scores.report(name);
}

/** Every global row index of `sets`: 0, 1, ..., n - 1. */
function allRows(sets: FeatureSet[]): Uint32Array {
  return Uint32Array.from({ length: sets.reduce((k, s) => k + s.rows.length, 0) }, (_, i) => i);
}

interface EpochSettings {
  epochs: number;
  lr: number;
  /** Names the progress bar and seeds the data order. */
  phase: string;
  batchSize: number;
  seed: number;
  ageSigma: number;
  json?: boolean;
}

/**
 * `epochs` passes of the joint loss over the rows `use` (global indices over `sets`), each step a random
 * view of each row, with warm-up then cosine decay of the learning rate; `onEpoch` gets the mean loss.
 */
async function trainEpochs(
  m: tf.LayersModel,
  sets: FeatureSet[],
  use: Uint32Array,
  s: EpochSettings,
  onEpoch?: (epoch: number, trainLoss: number) => Promise<void>,
): Promise<void> {
  const optimizer = createAdam(s.lr);
  const stepsPerEpoch = Math.ceil(use.length / s.batchSize);
  const total = s.epochs * stepsPerEpoch;
  const rand = mulberry32(s.seed + s.phase.length);
  const progress = createProgress({ unit: `${s.phase} steps`, total, json: s.json });
  let step = 0;
  for (let epoch = 1; epoch <= s.epochs; epoch++) {
    const order = shuffleInPlace(Uint32Array.from(use), rand);
    let lossSum = 0;
    for (let b = 0; b < stepsPerEpoch; b++) {
      setLearningRate(optimizer, learningRateAt(step, total, s.lr));
      const idx = order.subarray(b * s.batchSize, (b + 1) * s.batchSize);
      lossSum += jointTrainStep(m, optimizer, gather(sets, idx, rand), s);
      step++;
      progress.tick(1, { epoch, loss: (lossSum / (b + 1)).toFixed(3) });
    }
    await onEpoch?.(epoch, lossSum / stepsPerEpoch);
  }
  progress.stop();
  optimizer.dispose();
}

/** Where global row `global` (over the sets in order) lives: which set, which row of it. */
function locate(sets: FeatureSet[], global: number): { set: number; row: number } {
  let row = global;
  let set = 0;
  while (row >= sets[set]!.rows.length) row -= sets[set++]!.rows.length;
  return { set, row };
}
