import type { Command } from 'commander';
import { backendOption } from './backend-option.js';
import { register as registerCalibrate } from './calibrate.js';
import { numFlag } from './parse-number.js';

/**
 * `agegender predict`: faces, age and gender in photos. Also registers `agegender calibrate`, which
 * belongs to the same feature (src/cli/main.ts only knows the original command list).
 */
export function register(program: Command): void {
  program
    .command('predict')
    .description(
      'Find the faces in photos and print age and gender for each (e.g. "photo.jpg  face 1  M/46").',
    )
    .argument('<images...>', 'image files or directories of images')
    .option('--json', 'one JSON object per face (file, box, age, ageSpread, pMale, pFemale, label)')
    .option('--no-detect', "each image is one already-cropped face (as the seed's predict.py)")
    .option(
      '--annotate <path>',
      'write the photo with boxes and labels (a directory when there are several images)',
    )
    .option(
      '--model-dir <dir>',
      'serving bundle (model.json, weights.bin, preprocess.json); default: the bundled model',
    )
    .addOption(backendOption())
    .option(
      '--threads <n>',
      'engine threads (default: 1 for up to 4 photos, else all cores)',
      numFlag('--threads', { int: true, min: 1, max: 64 }),
    )
    .option('--detector <name>', 'face detector: ssd (ssd-mobilenetv1) or tiny (tiny-face-detector)')
    .option(
      '--min-score <p>',
      'detector confidence threshold, 0..1',
      numFlag('--min-score', { min: 0, max: 1 }),
    )
    .option(
      '--batch-size <n>',
      'images processed together',
      numFlag('--batch-size', { int: true, min: 1, max: 1024 }),
      16,
    )
    .action(async (images: string[], opts) => {
      const { runPredict } = await import('../infer/predict-command.js');
      process.exitCode = await runPredict(images, opts);
    });
  registerCalibrate(program);
}
