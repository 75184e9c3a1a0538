import type { EvaluateResult } from '../train/evaluate.js';
import { BACKEND, PROGRESS } from './common-options.js';
import { withProgress } from './progress.js';
import { defineOptions, resolveOptions, type OptionsOf } from './schema.js';

export type { EvaluateResult };

/** `agegender evaluate`'s options, declared once for the CLI and the library. */
export const EVALUATE_OPTIONS = defineOptions({
  modelDir: {
    type: 'path',
    required: true,
    arg: 'dir',
    help: 'a serving bundle, or a run directory (newest serving bundle, else checkpoint)',
  },
  csv: {
    type: 'path',
    required: true,
    arg: 'file',
    help: 'rows to score, CSV filename,age,gender (gender 1 = male)',
  },
  imgDir: { type: 'path', required: true, arg: 'dir', help: 'directory the CSV filenames are relative to' },
  batchSize: { type: 'int', min: 1, max: 4096, default: 64, help: 'images per forward pass' },
  backend: BACKEND,
  progress: PROGRESS,
});

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
