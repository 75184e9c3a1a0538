import { reportProgressTo, type ProgressOption } from '../util/progress.js';

export type { ProgressCallback, ProgressEvent, ProgressOption } from '../util/progress.js';

/** Runs `fn` with its progress routed as `progress` says; `quiet` tells the command to draw nothing itself. */
export function withProgress<T>(
  progress: ProgressOption | undefined,
  fn: (quiet: boolean) => Promise<T>,
): Promise<T> {
  if (progress === 'stderr') return fn(false);
  return reportProgressTo(progress, () => fn(true));
}
