import { EVALUATE_OPTIONS } from '../train/evaluate-options.js';
import type { EvaluateResult } from '../train/evaluate.js';
import { resolveOptions, type OptionsOf } from '../util/option-schema.js';
import { withProgress } from './progress.js';

export { EVALUATE_OPTIONS };
export type { EvaluateResult };

export type EvaluateOptions = OptionsOf<typeof EVALUATE_OPTIONS>;

/**
 * Scores a model on a labelled CSV: age MAE, CS@5, gender accuracy, and the same by age band x gender.
 *
 * @example
 * import { evaluate } from 'agegender';
 * const r = await evaluate({ modelDir: 'runs/a', csv: 'var/utk64/test.csv', imgDir: 'var/utk64/crop' });
 * console.log(`MAE ${r.mae.toFixed(2)}, gender ${(r.genderAcc * 100).toFixed(1)}%`);
 */
export async function evaluate(options: EvaluateOptions): Promise<EvaluateResult> {
  const opts = resolveOptions('evaluate', EVALUATE_OPTIONS, options);
  const { evaluate: run } = await import('../train/evaluate.js');
  return withProgress(opts.progress, (quiet) => run({ ...opts, json: quiet }));
}
