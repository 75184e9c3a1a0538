import type { CropSettings } from './crops.js';
import type { SplitRatio } from './split.js';

/** Options every `preprocess` command shares (parsed by src/cli/preprocess.ts). */
export interface CommonPreprocessOptions {
  outputDir: string;
  crop: CropSettings;
  splitRatio: SplitRatio;
  seed: number;
  labelsOnly: boolean;
  json: boolean;
  concurrency?: number;
}
