import { Command } from 'commander';
import { EVALUATE_OPTIONS } from '../api/evaluate.js';
import { addFlags, typedFlags } from './flags.js';

export function register(program: Command): void {
  const command = program
    .command('evaluate')
    .description('score a model on a labelled CSV: age MAE, CS@5, gender accuracy, by age band and gender');
  addFlags(command, EVALUATE_OPTIONS)
    .option('--json', 'print the report as JSON on stdout, no progress')
    .action(async (flags: { json?: boolean }) => {
      const { evaluate } = await import('../api/evaluate.js');
      const { formatEvaluation } = await import('../train/evaluate-command.js');
      const result = await evaluate({
        ...typedFlags(command, EVALUATE_OPTIONS),
        progress: flags.json ? undefined : 'stderr',
      });
      console.log(flags.json ? JSON.stringify(result) : formatEvaluation(result));
    });
}
