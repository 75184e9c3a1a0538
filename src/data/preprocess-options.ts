import type { CropSettings } from './crops.js';
import type { DuplicateOptions } from './duplicates.js';
import type { SplitRatio } from './split.js';

/** Options every `preprocess` command shares (parsed by src/cli/preprocess.ts). */
export interface CommonPreprocessOptions {
  outputDir: string;
  /** Crop settings; ignored with labelsOnly. */
  crop: CropSettings;
  splitRatio: SplitRatio;
  seed: number;
  /** Write CSVs and summary from the labels alone, without touching images (no photos at hand). */
  labelsOnly: boolean;
  /** Machine mode: no progress output. */
  json: boolean;
  /** Images in flight at once (default: enough for all cores). */
  concurrency?: number;
  /** Find duplicate crops, keep each cluster on one side of the split, drop clusters whose labels disagree
   * (null: off). */
  dedup?: DuplicateOptions | null;
}
