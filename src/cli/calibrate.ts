import type { Command } from 'commander';
import { backendOption } from './backend-option.js';
import { numFlag } from './parse-number.js';

/** `agegender calibrate`: measure how the face detector's box sits in the training crops (see src/infer/calibrate.ts). */
export function register(program: Command): void {
  program
    .command('calibrate')
    .description(
      "Measure how detected face boxes sit inside the training crops; store it in the bundle's preprocess.json.",
    )
    .requiredOption('--model-dir <dir>', 'serving bundle whose preprocess.json gets the faceCrop rule')
    .requiredOption('--img-dir <dir>', 'folder of training face crops (e.g. ../shared/data/utkface)')
    .option(
      '--count <n>',
      'crops to measure, spread over the folder',
      numFlag('--count', { int: true, min: 1 }),
      500,
    )
    .option(
      '--detector <name>',
      'face detector: ssd (ssd-mobilenetv1) or tiny (tiny-face-detector)',
      'ssd-mobilenetv1',
    )
    .addOption(backendOption())
    .option('--dry-run', 'measure and print, but leave preprocess.json as it is')
    .option('--json', 'print the result as JSON, no progress')
    .action(async (opts) => {
      const { runCalibrate } = await import('../infer/calibrate-command.js');
      await runCalibrate(opts);
    });
}
