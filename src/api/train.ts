import type { Arch as ArchName } from '../model/arch-names.js';
import type { EvalReport } from '../model/metrics.js';
import { TRAIN_OPTIONS } from '../train/scratch-options.js';
import type { TrainResult } from '../train/scratch.js';
import { InvalidOptionError } from '../util/errors.js';
import { resolveOptions, type OptionsOf } from '../util/option-schema.js';
import { withProgress } from './progress.js';

export { TRAIN_OPTIONS };
export type { ArchName, EvalReport, TrainResult };

export type TrainOptions = OptionsOf<typeof TRAIN_OPTIONS>;

/**
 * Trains the multi-task age/gender network from scratch and exports a serving bundle (resumable,
 * checkpointed). Aborting `signal` stops it after the current step with a checkpoint (StoppedError).
 *
 * @example
 * import { train } from 'agegender';
 * const result = await train({
 *   modelDir: 'runs/a', imgDir: 'var/utk64/crop', trainCsv: 'var/utk64/train.csv', valCsv: 'var/utk64/val.csv',
 *   epochs: 4, progress: (p) => console.log(`${p.done}/${p.total} steps, loss ${p.fields.loss}`),
 * });
 * console.log(result.validation.mae, result.servingDir);
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const opts = resolveOptions('train', TRAIN_OPTIONS, options);
  const given = new Set(
    Object.entries(options ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k]) => k),
  );
  if (given.has('numSteps') && given.has('epochs'))
    throw new InvalidOptionError('train: give numSteps or epochs, not both');
  const { train: run } = await import('../train/scratch.js');
  return withProgress(opts.progress, (quiet) => run({ ...opts, json: quiet, given }));
}
