import { Command } from 'commander';
import type { BackendChoice } from '../engine/backend-choices.js';
import { backendOption } from './backend-option.js';
import { num } from './parse-number.js';

export function register(program: Command): void {
  program
    .command('evaluate')
    .description('score a model on a labelled CSV: age MAE, CS@5, gender accuracy, by age band and gender')
    .requiredOption(
      '--model-dir <dir>',
      'a serving bundle, or a run directory (newest serving bundle, else checkpoint)',
    )
    .requiredOption('--csv <file>', 'rows to score, CSV filename,age,gender (gender 1 = male)')
    .requiredOption('--img-dir <dir>', 'directory the CSV filenames are relative to')
    .option('--batch-size <n>', 'images per forward pass', '64')
    .addOption(backendOption())
    .option('--json', 'print the report as JSON on stdout, no progress')
    .action(
      async (flags: {
        modelDir: string;
        csv: string;
        imgDir: string;
        batchSize: string;
        backend: BackendChoice;
        json?: boolean;
      }) => {
        const { evaluate } = await import('../api/evaluate.js');
        const { formatEvaluation } = await import('../train/evaluate-command.js');
        const result = await evaluate({
          modelDir: flags.modelDir,
          csv: flags.csv,
          imgDir: flags.imgDir,
          batchSize: num('--batch-size', flags.batchSize, { int: true, min: 1, max: 4096 }),
          backend: flags.backend,
          progress: flags.json ? undefined : 'stderr',
        });
        console.log(flags.json ? JSON.stringify(result) : formatEvaluation(result));
      },
    );
}
