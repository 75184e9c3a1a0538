import * as tf from '@tensorflow/tfjs';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import { PIXEL_PREFIX, pixelNet, withPixelBranch } from '../model/pixel-net.js';
import { summarizeReports, type SetReport } from '../model/metrics.js';
import { UserError } from '../util/errors.js';
import { fineTuneOnImages, scoreImages, type FullTuneOptions, type ImageSet } from './fine-tune.js';

/**
 * Phase "pixel" of backbone training: a small CNN (model/pixel-net.ts) learns age and gender from the
 * decoded, augmented training images on its own, from scratch, while the trained model is left untouched;
 * then its gender logits are mixed into the model's (`mix` of the weight). Both are scored on validation,
 * with and without the branch, so the run says what the branch did.
 */
export interface PixelBranchOptions extends Omit<FullTuneOptions, 'phase'> {
  /** The branch's share of the served gender logits (0..1). */
  mix: number;
  /** The model's validation figures when already known (heads or full phase); scored on the images if not. */
  without?: SetReport[];
}

/** Defaults: the branch trains from scratch, so at twice the heads' rate; its share chosen in a 5-fold probe. */
export const PIXEL_LR = 2e-3;
export const PIXEL_MIX = 0.2;

/** What metrics.json says of the branch. */
export interface PixelBranchSummary {
  epochs: number;
  mix: number;
  params: number;
  /** Validation of the branch alone, of the model without it, and of the model with it. */
  alone: SetReport[];
  without: SetReport[];
  with: SetReport[];
}

export async function addPixelBranch(
  model: tf.LayersModel,
  spec: PreprocessSpec,
  train: ImageSet[],
  val: ImageSet[],
  opts: PixelBranchOptions,
): Promise<{ model: tf.LayersModel; trainImages: number; summary: PixelBranchSummary }> {
  if (model.layers.some((l) => l.name.startsWith(PIXEL_PREFIX)))
    throw new UserError('the model already has a pixel branch: start from one without');
  const branch = pixelNet({ seed: opts.seed });
  const image = tf.input({ shape: [spec.imageSize, spec.imageSize, 3], name: `${PIXEL_PREFIX}image` });
  const alone = tf.model({ inputs: image, outputs: branch(image), name: 'pixel_branch' });
  opts.log(
    `pixel branch: ${(alone.countParams() / 1e6).toFixed(2)}M params, trained from scratch on the images`,
  );
  const { validation, trainImages } = await fineTuneOnImages(alone, spec, train, val, {
    ...opts,
    phase: 'pixel',
  });
  const without = opts.without ?? [];
  if (!opts.without) for (const s of val) without.push(await scoreImages(model, spec, s));
  const mixed = withPixelBranch(model, branch, opts.mix);
  const withBranch: SetReport[] = [];
  for (const s of val) withBranch.push(await scoreImages(mixed, spec, s));
  opts.log(`pixel branch alone: ${summarizeReports(validation)}`);
  opts.log(`without the branch: ${summarizeReports(without)}`);
  opts.log(`with it (mix ${opts.mix}): ${summarizeReports(withBranch)}`);
  return {
    model: mixed,
    trainImages,
    summary: {
      epochs: opts.epochs,
      mix: opts.mix,
      params: alone.countParams(),
      alone: validation,
      without,
      with: withBranch,
    },
  };
}
