import { BACKEND_CHOICES, type BackendChoice } from '../engine/backend-choices.js';
import type { EvaluateResult } from '../train/evaluate-command.js';
import { checkChoice, checkKnownOptions, checkNumber, checkString } from './options.js';
import { withProgress, type ProgressOption } from './progress.js';

export type { EvaluateResult };

/** `agegender evaluate`'s options. */
export interface EvaluateOptions {
  /** A serving bundle, or a run directory (its newest serving bundle, else its latest checkpoint). */
  modelDir: string;
  /** Rows to score, schema filename,age,gender. */
  csv: string;
  /** Directory the CSV filenames are relative to. */
  imgDir: string;
  /** Images per forward pass (default 64). */
  batchSize?: number;
  backend?: BackendChoice;
  /** Progress in images. */
  progress?: ProgressOption;
}

/**
 * Scores a model on a labelled CSV: age MAE, CS@5, gender accuracy, and the same by age band x gender.
 *
 * @example
 * import { evaluate } from 'agegender';
 * const r = await evaluate({ modelDir: 'runs/a', csv: 'var/utk64/test.csv', imgDir: 'var/utk64/crop' });
 * console.log(`MAE ${r.mae.toFixed(2)}, gender ${(r.genderAcc * 100).toFixed(1)}%`);
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvaluateResult> {
  const fn = 'evaluate';
  checkKnownOptions(fn, opts, ['modelDir', 'csv', 'imgDir', 'batchSize', 'backend', 'progress']);
  for (const k of ['modelDir', 'csv', 'imgDir'] as const) checkString(fn, k, opts?.[k], true);
  checkNumber(fn, 'batchSize', opts.batchSize, { int: true, min: 1, max: 4096 });
  checkChoice(fn, 'backend', opts.backend, BACKEND_CHOICES);
  const { evaluateCommand } = await import('../train/evaluate-command.js');
  return withProgress(opts.progress, (quiet) =>
    evaluateCommand({
      modelDir: opts.modelDir,
      csv: opts.csv,
      imgDir: opts.imgDir,
      batchSize: opts.batchSize ?? 64,
      backend: opts.backend ?? 'auto',
      json: quiet,
    }),
  );
}
