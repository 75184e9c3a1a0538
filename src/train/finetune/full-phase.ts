import * as tf from '@tensorflow/tfjs';
import { TrainStream, evalBatches, imagePath } from '../../data/dataset-stream.js';
import type { LabelledImage } from '../../data/labels-csv.js';
import { lowResolution, photoAugment } from '../../data/photo-augment.js';
import type { PreprocessSpec } from '../../data/preprocess-spec.js';
import { FlipMetricsAccumulator, summarizeReports, type SetReport } from '../../model/metrics.js';
import { mulberry32 } from '../../util/random.js';
import { round } from '../../util/round.js';
import { balancedAgeWeights } from '../age-bands.js';
import { fit } from '../fit.js';
import { learningRateAt } from '../schedule.js';

/**
 * Phase "full" of fine-tuning: every trainable weight of the image -> age/gender model (the backbone and
 * the heads) trains on decoded images, at a learning rate well under the heads' so the pretrained
 * features are adjusted rather than overwritten. Cached features cannot serve here (the backbone changes
 * at every step), so each image is decoded and augmented on the fly: mirrored and shifted half of the time
 * (TrainStream), and made photo-like (photoAugment: box jitter, blur, JPEG, colour, grey) half of the
 * time. Faces at the ends of the age range (under 20, 60 and over), which photos pull toward the middle
 * most, are also seen small now and then (lowResolution), and the age term is weighted by balanced age
 * bands as in the heads phase. On 2 cores with oneDNN this runs at ~40 images/s, ~12 min per epoch of
 * UTKFace + AAF, against seconds for the heads on cached features: the price of moving the backbone.
 */

/** A training or validation part: rows whose filenames resolve against imgDir. */
export interface ImageSet {
  name: string;
  imgDir: string;
  rows: LabelledImage[];
}

/** Probability that a training image gets a photo-like augmentation. */
const PHOTO_AUGMENT_P = 0.5;
/** Probability that a face at the ends of the age range is first seen small, at 24 to 64 px a side. */
const LOW_RESOLUTION_P = 0.35;
const atTheEnds = (age: number) => age < 20 || age >= 60;

export interface FullPhaseOptions {
  epochs: number;
  batchSize: number;
  /** Peak Adam learning rate (warm-up, then cosine decay). */
  lr: number;
  ageSigma: number;
  /** Age targets whose mean is the true age at the ends too (as in the heads phase). */
  centredAgeTargets: boolean;
  /** Balanced age bands' power (0: unweighted), as in the heads phase (../age-bands.ts). */
  ageBalance: number;
  seed: number;
  signal?: AbortSignal;
  json: boolean;
  log: (line: string) => void;
  /** Called with each image that cannot be read (the run's skip log). */
  onSkip: (file: string, why: string) => void;
  /** Called after each epoch with its validation figures (appended to metrics.jsonl). */
  record: (line: object) => Promise<void>;
}

export async function trainFullPhase(
  model: tf.LayersModel,
  spec: PreprocessSpec,
  train: ImageSet[],
  val: ImageSet[],
  opts: FullPhaseOptions,
): Promise<{ validation: SetReport[]; trainImages: number }> {
  // One stream over the pooled rows, each file name joined to its set's folder.
  const rows = train.flatMap((s) => s.rows.map((r) => ({ ...r, filename: imagePath(s.imgDir, r.filename) })));
  const stream = new TrainStream(rows, {
    imgDir: '',
    spec,
    batchSize: opts.batchSize,
    augment: true,
    seed: opts.seed,
    onSkip: opts.onSkip,
    transform: async (px, row, seed) => {
      // Draws from the stream's per-image seed: the same views again in a resumed or repeated run.
      const rand = mulberry32(seed);
      const size = spec.imageSize;
      if (atTheEnds(row.age) && rand() < LOW_RESOLUTION_P)
        px = await lowResolution(px, size, 24 + Math.floor(rand() * 41));
      return rand() < PHOTO_AUGMENT_P ? photoAugment(px, size, Math.floor(rand() * 2 ** 32)) : px;
    },
  });
  const weights = balancedAgeWeights(
    rows.map((r) => r.age),
    opts.ageBalance,
  );
  const stepsPerEpoch = Math.ceil(rows.length / opts.batchSize);
  const steps = opts.epochs * stepsPerEpoch;
  const shape = [spec.imageSize, spec.imageSize, 3];
  let validation: SetReport[] = [];
  await fit({
    phase: 'full',
    model,
    next: async () => {
      const b = await stream.next();
      return { ...b, shape, ageWeights: weights ? Float32Array.from(b.ages, (a) => weights[a]!) : undefined };
    },
    steps,
    stepsPerEpoch,
    lr: (step) => learningRateAt(step, steps, opts.lr),
    ageSigma: opts.ageSigma,
    centredAgeTargets: opts.centredAgeTargets,
    signal: opts.signal,
    json: opts.json,
    callbacks: [
      {
        onEpoch: async (epoch, loss) => {
          validation = [];
          for (const s of val) validation.push(await scoreImages(model, spec, s));
          const trainLoss = round(loss, 4);
          await opts.record({ phase: 'full', epoch, steps: stepsPerEpoch, trainLoss, sets: validation });
          opts.log(
            `\nfull epoch ${epoch}/${opts.epochs}: loss ${trainLoss} | ${summarizeReports(validation)}`,
          );
        },
      },
    ],
  });
  // Unreadable images were skipped (and logged) by the stream, once each.
  return { validation, trainImages: rows.length - stream.skipped };
}

/** Age MAE, CS@5 and gender accuracy of `model` on a set of images, as is and flip-averaged. */
async function scoreImages(
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
