import * as tf from '@tensorflow/tfjs';
import { TrainStream, evalBatches, imagePath } from '../data/dataset-stream.js';
import type { LabelledImage } from '../data/labels-csv.js';
import { photoAugment } from '../data/photo-augment.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import { createAdam, setLearningRate } from '../engine/adam.js';
import { FlipMetricsAccumulator, summarizeReports, type SetReport } from '../model/metrics.js';
import { mulberry32 } from '../util/random.js';
import { UserError } from '../util/errors.js';
import { round } from '../util/round.js';
import { createProgress } from '../util/progress.js';
import { learningRateAt } from './schedule.js';
import { jointTrainStep } from './step.js';

/**
 * Phase "full" of backbone training: every trainable weight of the image -> age/gender model (the
 * backbone and the heads) trains on decoded images, at a learning rate well under the heads' so the
 * pretrained features are adjusted rather than overwritten. Cached features cannot serve here (the
 * backbone changes at every step), so each image is decoded and augmented on the fly: mirrored and shifted
 * half of the time (TrainStream), and made photo-like (photoAugment: box jitter, blur, JPEG, colour, grey)
 * with probability `photoAugmentP`. On 2 cores with oneDNN this runs at ~40 images/s, ~11 min per epoch
 * of UTKFace + AAF, against seconds for the heads on cached features: the price of moving the backbone.
 */

/** A training or validation part: rows whose filenames resolve against imgDir. */
export interface ImageSet {
  name: string;
  imgDir: string;
  rows: LabelledImage[];
}

export interface FullTuneOptions {
  epochs: number;
  batchSize: number;
  /** Peak Adam learning rate (warm-up, then cosine decay). */
  lr: number;
  ageSigma: number;
  seed: number;
  /** Probability that a training image gets a photo-like augmentation (default 0.5). */
  photoAugmentP?: number;
  json?: boolean;
  log: (line: string) => void;
  /** Called after each epoch with its validation figures (e.g. to append to metrics.jsonl). */
  onEpoch?: (line: {
    phase: 'full';
    epoch: number;
    /** Optimizer steps of that epoch, so metrics.jsonl shows the batch size that ran. */
    steps: number;
    trainLoss: number;
    sets: SetReport[];
  }) => Promise<void>;
}

export async function fineTuneOnImages(
  model: tf.LayersModel,
  spec: PreprocessSpec,
  train: ImageSet[],
  val: ImageSet[],
  opts: FullTuneOptions,
): Promise<{ validation: SetReport[]; trainImages: number }> {
  // One stream over the pooled rows, each file name joined to its set's folder.
  const rows = train.flatMap((s) => s.rows.map((r) => ({ ...r, filename: imagePath(s.imgDir, r.filename) })));
  const augmentP = opts.photoAugmentP ?? 0.5;
  const rand = mulberry32(opts.seed ^ 0x5eed);
  const stream = new TrainStream(rows, {
    imgDir: '',
    spec,
    batchSize: opts.batchSize,
    augment: true,
    seed: opts.seed,
    onSkip: (file, why) => opts.log(`skipped ${file}: ${why}`),
    transform: (px) =>
      rand() < augmentP
        ? photoAugment(px, spec.imageSize, Math.floor(rand() * 2 ** 32))
        : Promise.resolve(px),
  });
  const stepsPerEpoch = Math.ceil(rows.length / opts.batchSize);
  const total = opts.epochs * stepsPerEpoch;
  const optimizer = createAdam(opts.lr);
  const phase = 'full';
  const progress = createProgress({ unit: `${phase} steps`, total, json: opts.json });
  let reports: SetReport[] = [];
  let step = 0;
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      let lossSum = 0;
      for (let b = 0; b < stepsPerEpoch; b++) {
        setLearningRate(optimizer, learningRateAt(step, total, opts.lr));
        const batch = await stream.next();
        const loss = jointTrainStep(
          model,
          optimizer,
          { ...batch, shape: [spec.imageSize, spec.imageSize, 3] },
          opts,
        );
        // As the from-scratch trainer: a diverged run stops here instead of exporting a NaN model.
        if (!Number.isFinite(loss))
          throw new UserError(`loss is ${loss} at ${phase} step ${step + 1}: lower --${phase}-lr`);
        lossSum += loss;
        step++;
        progress.tick(1, { epoch, loss: (lossSum / (b + 1)).toFixed(3) });
      }
      reports = [];
      for (const s of val) reports.push(await scoreImages(model, spec, s));
      const trainLoss = round(lossSum / stepsPerEpoch, 4);
      await opts.onEpoch?.({ phase, epoch, steps: stepsPerEpoch, trainLoss, sets: reports });
      opts.log(`\n${phase} epoch ${epoch}/${opts.epochs}: loss ${trainLoss} | ${summarizeReports(reports)}`);
    }
  } finally {
    progress.stop();
    optimizer.dispose();
  }
  // Unreadable images were skipped (and logged) by the stream, once each.
  return { validation: reports, trainImages: rows.length - stream.skipped };
}

/** Age MAE, CS@5 and gender accuracy of `model` on a set of images, as is and flip-averaged. */
export async function scoreImages(
  model: tf.LayersModel,
  spec: PreprocessSpec,
  set: ImageSet,
  batchSize = 64,
): Promise<SetReport> {
  const scores = new FlipMetricsAccumulator();
  const side = spec.imageSize;
  for await (const b of evalBatches(set.rows, { imgDir: set.imgDir, spec, batchSize })) {
    scores.addPredictions(
      model,
      () => {
        // Plain images first, then the same images mirrored (axis 2 = width), in one pass.
        const x = tf.tensor4d(b.x, [b.size, side, side, 3]);
        return tf.concat([x, tf.reverse(x, 2)]);
      },
      (j) => j,
      (j) => j + b.size,
      b.ages,
      b.genders,
    );
  }
  return scores.report(set.name);
}
