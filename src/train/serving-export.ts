import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { BUNDLE_FILES } from '../data/bundle-format.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import type { WeightStorage } from '../engine/engine-options.js';
import { saveLayersModelToDir } from '../engine/model-io.js';
import { writeFileAtomic } from '../util/atomic.js';
import { exists } from '../util/exists.js';
import type { RunState } from './checkpoint.js';

/**
 * Writes a serving bundle (data/bundle-format.ts) of a trained model: every trainer ends here, so a bundle
 * always holds the model, the preprocessing it was trained with and the figures it reached, and is
 * written the same way (a fresh `<modelDir>/serving/<unix time>/`, atomically; then `latest-serving.txt`
 * names it).
 */
export async function writeServingBundle(
  model: tf.LayersModel,
  modelDir: string,
  spec: PreprocessSpec,
  metrics: object,
  weights: WeightStorage = 'float32',
): Promise<string> {
  let dir = path.join(modelDir, 'serving', String(Math.floor(Date.now() / 1000)));
  while (await exists(dir)) dir = path.join(modelDir, 'serving', String(Number(path.basename(dir)) + 1));
  await saveLayersModelToDir(model, dir, {
    atomic: true,
    weights,
    extraFiles: {
      [BUNDLE_FILES.preprocess]: JSON.stringify(spec, null, 2) + '\n',
      [BUNDLE_FILES.metrics]:
        JSON.stringify({ ...metrics, exportedAt: new Date().toISOString() }, null, 2) + '\n',
    },
  });
  await writeFileAtomic(path.join(modelDir, 'latest-serving.txt'), dir + '\n');
  return dir;
}

/** The bundle of a from-scratch run (train/scratch.ts) at its current state. */
export function exportServing(
  model: tf.LayersModel,
  modelDir: string,
  spec: PreprocessSpec,
  run: RunState,
): Promise<string> {
  return writeServingBundle(model, modelDir, spec, {
    arch: run.arch,
    imageSize: run.imageSize,
    step: run.step,
    totalSteps: run.totalSteps,
    validation: run.lastEval,
    trainCsv: run.trainCsv,
    valCsv: run.valCsv,
  });
}
