import { reportProgressTo, type ProgressCallback } from '../util/progress.js';

export type { ProgressCallback, ProgressEvent } from '../util/progress.js';

/**
 * Where a long function's progress goes: a callback (called after every unit of work with count, rate
 * and ETA), 'stderr' (a bar on a terminal, a line every 10 s on a pipe: what the CLI shows), or nowhere
 * (the default).
 */
export type ProgressOption = ProgressCallback | 'stderr';

/** Runs `fn` with its progress routed as `progress` says; `quiet` tells the command to draw nothing itself. */
export function withProgress<T>(
  progress: ProgressOption | undefined,
  fn: (quiet: boolean) => Promise<T>,
): Promise<T> {
  if (progress === 'stderr') return fn(false);
  return reportProgressTo(progress, () => fn(true));
}
