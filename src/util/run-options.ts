import type { CustomSpec } from './option-schema.js';
import type { ProgressOption } from './progress.js';

/** How a long run is seeded, watched and stopped: options several commands share, declared once. */

export const SEED = { type: 'int', min: 0, max: 2 ** 32 - 1, help: 'seed of the random draws' } as const;

/** Library only: where progress goes (the CLI passes 'stderr' unless --json). */
export const PROGRESS: CustomSpec<ProgressOption> = {
  type: 'custom',
  cli: false,
  help: "a callback called with count, rate and ETA, or 'stderr' for a progress bar",
  expect: "a function or 'stderr'",
  check: (v): v is ProgressOption => typeof v === 'function' || v === 'stderr',
};

/** Library only: where log lines go (default: none). */
export const LOG: CustomSpec<(line: string) => void> = {
  type: 'custom',
  cli: false,
  help: 'called with each log line (skipped images, evaluations, the exported bundle)',
  expect: 'a function',
  check: (v): v is (line: string) => void => typeof v === 'function',
};

/** Library only: aborting it stops the work (a long run saves a checkpoint first). */
export const SIGNAL: CustomSpec<AbortSignal> = {
  type: 'custom',
  cli: false,
  help: 'an AbortSignal that stops the work',
  expect: 'an AbortSignal',
  check: (v): v is AbortSignal => typeof AbortSignal !== 'undefined' && v instanceof AbortSignal,
};
