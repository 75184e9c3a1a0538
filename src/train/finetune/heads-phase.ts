import type { LabelledImage } from '../../data/labels-csv.js';
import type { PreprocessSpec } from '../../data/preprocess-spec.js';
import type { AgeGenderNet } from '../../model/agegender-net.js';
import { BACKBONES } from '../../model/backbones/index.js';
import { summarizeReports, type SetReport } from '../../model/metrics.js';
import { UserError } from '../../util/errors.js';
import { mulberry32 } from '../../util/random.js';
import { round } from '../../util/round.js';
import { balancedAgeWeights } from '../age-bands.js';
import { fit } from '../fit.js';
import { learningRateAt } from '../schedule.js';
import { cachedFeatures, type FeatureSet } from './feature-cache.js';
import { featureBatches, scoreFeatures } from './feature-sets.js';
import type { DataSet, FinetuneSettings } from './options.js';

/**
 * Phase "heads": the backbone is frozen, so the heads' features of every image and view are computed once
 * and cached (feature-cache.ts), and the heads train on those: seconds per epoch. Each epoch is scored on every set's validation rows.
 */
export async function trainHeadsPhase(
  net: AgeGenderNet,
  spec: PreprocessSpec,
  sets: DataSet[],
  csvRows: { train: LabelledImage[]; val: LabelledImage[] }[],
  /** Per set: are its validation rows trained on too (includeVal)? */
  refit: boolean[],
  opts: FinetuneSettings & { cacheDir: string },
  log: (line: string) => void,
  record: (line: object) => Promise<void>,
  /** Called with each image that cannot be read (the run's skip log). */
  onSkip: (file: string, why: string) => void,
): Promise<{ validation: SetReport[]; trainImages: number }> {
  // 1. Cached features of every train / val image (plain, mirrored, and augmented views for training).
  const features = (set: DataSet, part: 'train' | 'val') =>
    cachedFeatures(net.features, csvRows[sets.indexOf(set)]![part], {
      cacheDir: opts.cacheDir,
      backboneId: `${BACKBONES[opts.backbone].id}/${opts.features}`,
      imgDir: set.imgDir,
      spec,
      json: opts.json,
      signal: opts.signal,
      label: `${set.name}-${part}`,
      augmentedViews: part === 'train' ? opts.augmentViews : 0,
      onSkip,
    });
  const train: FeatureSet[] = [];
  const val: FeatureSet[] = [];
  for (const set of sets) {
    train.push(await features(set, 'train'));
    val.push(await features(set, 'val'));
  }
  // includeVal: those sets' validation rows join the training rows (a final refit); they are still scored.
  const fitFeatures = [...train, ...val.filter((_, i) => refit[i])];
  const trainImages = fitFeatures.reduce((n, s) => n + s.rows.length, 0);
  if (trainImages === 0) throw new UserError('no readable training images');
  const empty = val.findIndex((v) => v.rows.length === 0);
  if (empty >= 0) throw new UserError(`${sets[empty]!.valCsv}: no readable validation images`);
  for (const [i, set] of sets.entries())
    if (refit[i])
      log(
        `finetune: ${set.name}'s validation rows are trained on too: its validation figures are on seen faces`,
      );

  const per = train[0]!.per;
  log(`finetune: ${per} features per view, ${((per * 2) / 1024).toFixed(1)} KB each in the cache (float16)`);

  // 2. The heads on the cached features.
  // The data order's seed: 5 is the length of the phase's name, which seeded it when phases shared a loop.
  // Balanced age bands: the weights come from the ages of the rows trained on, all sets pooled.
  const ageWeights = balancedAgeWeights(
    fitFeatures.flatMap((s) => s.rows.map((r) => r.age)),
    opts.ageBalance,
  );
  const batches = featureBatches(
    fitFeatures,
    opts.batchSize,
    mulberry32(opts.seed + 5),
    undefined,
    ageWeights,
  );
  const steps = opts.epochs * batches.stepsPerEpoch;
  let validation: SetReport[] = [];
  await fit({
    phase: 'heads',
    model: net.headsTrain,
    next: batches.next,
    steps,
    stepsPerEpoch: batches.stepsPerEpoch,
    lr: (step) => learningRateAt(step, steps, opts.lr),
    ageSigma: opts.ageSigma,
    centredAgeTargets: opts.centredAgeTargets,
    signal: opts.signal,
    json: opts.json,
    callbacks: [
      {
        onEpoch: async (epoch, loss) => {
          validation = await Promise.all(val.map((s, i) => scoreFeatures(net.heads, s, sets[i]!.name)));
          const line = { phase: 'heads', epoch, trainLoss: round(loss, 4), sets: validation };
          await record(line);
          log(
            `\nheads epoch ${epoch}/${opts.epochs}: loss ${line.trainLoss} | ${summarizeReports(validation)}`,
          );
        },
      },
    ],
  });
  return { validation, trainImages };
}
