import * as tf from '@tensorflow/tfjs';
import { buildModel } from '../model/index.js';
import { UserError } from '../util/errors.js';
import { setupBackend } from './backend-setup.js';
import { loadCheckpoint } from './checkpoint.js';
import { exportServing } from './serving-export.js';

export interface ExportResult {
  servingDir: string;
  /** The checkpoint's step. */
  step: number;
  checkpoint: string;
  /** Why the latest checkpoint was passed over for the one before it (it was unreadable). */
  skipped?: string;
}

/** Rebuilds the network of a run's latest checkpoint and writes it out as a serving bundle. */
export async function exportLatest(modelDir: string): Promise<ExportResult> {
  await setupBackend('auto');
  const ckpt = await loadCheckpoint(modelDir);
  if (!ckpt)
    throw new UserError(
      `${modelDir}: no checkpoint to export (train writes one every --checkpoint-every steps)`,
    );
  const model = buildModel(ckpt.state.arch, { imageSize: ckpt.state.imageSize, seed: ckpt.state.seed });
  model.setWeights(ckpt.weights);
  tf.dispose([...ckpt.weights, ...ckpt.optimizer.map((o) => o.tensor)]);
  // A diverged or damaged checkpoint would export a model that answers NaN to every face.
  if (!allFinite(model)) {
    model.dispose();
    throw new UserError(
      `${ckpt.dir}: its weights are not finite numbers (NaN or infinity); nothing exported`,
    );
  }
  const servingDir = await exportServing(model, modelDir, ckpt.spec, ckpt.state);
  model.dispose();
  // A damaged latest checkpoint was passed over for the one before it: say so.
  return { servingDir, step: ckpt.state.step, checkpoint: ckpt.dir, skipped: ckpt.skipped?.reason };
}

/** Are all of a model's weights finite numbers? */
function allFinite(model: tf.LayersModel): boolean {
  return model.weights.every((w) => tf.tidy(() => tf.all(tf.isFinite(w.read())).dataSync()[0] === 1));
}
