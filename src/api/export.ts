import type { ExportResult } from '../train/export.js';
import { defineOptions, resolveOptions, type OptionsOf } from '../util/option-schema.js';

export type { ExportResult };

/** `agegender export`'s options, declared once for the CLI and the library. */
export const EXPORT_OPTIONS = defineOptions({
  modelDir: { type: 'path', required: true, arg: 'dir', help: 'run directory written by train' },
});

export type ExportOptions = OptionsOf<typeof EXPORT_OPTIONS>;

/**
 * Writes the latest checkpoint of a `train` run as a serving bundle (<modelDir>/serving/<timestamp>/):
 * a run stopped early, or one whose last checkpoint you want to serve.
 *
 * @example
 * import { exportCheckpoint } from 'agegender';
 * const { servingDir, step } = await exportCheckpoint({ modelDir: 'runs/a' });
 */
export async function exportCheckpoint(options: ExportOptions): Promise<ExportResult> {
  const opts = resolveOptions('exportCheckpoint', EXPORT_OPTIONS, options);
  const { exportLatest } = await import('../train/export.js');
  return exportLatest(opts.modelDir);
}
