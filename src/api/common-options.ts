import { BACKEND_CHOICES } from '../engine/backend-choices.js';
import type { ProgressOption } from './progress.js';
import type { CustomSpec } from './schema.js';

/** Options that several commands share, declared once (each command's schema spreads the ones it takes). */

export const BACKEND = {
  type: 'choice',
  choices: BACKEND_CHOICES,
  default: 'auto',
  help: 'tensor engine (auto: wasm+dnnl when oneDNN is installed, else wasm; tensorflow when tfjs-node is)',
} as const;

export const THREADS = {
  type: 'int',
  min: 1,
  max: 64,
  help: 'threads of the engine',
  defaultHelp: 'all cores',
} as const;

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
