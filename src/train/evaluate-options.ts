import { BACKEND } from '../engine/engine-options.js';
import { defineOptions, type Resolved } from '../util/option-schema.js';
import { PROGRESS } from '../util/run-options.js';

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

/** The options as the library resolved them, and whether to draw progress. */
export type EvaluateSettings = Resolved<typeof EVALUATE_OPTIONS> & { json: boolean };
