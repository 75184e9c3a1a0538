import { Command } from 'commander';
import { TRAIN_OPTIONS } from '../api/train.js';
import { addFlags, typedFlags } from './flags.js';
import { stopOnSignals } from './stop-signal.js';

export function register(program: Command): void {
  const command = program
    .command('train')
    .description(
      'train the age/gender network from scratch on a labels CSV and export a serving bundle (resumable)',
    );
  addFlags(command, TRAIN_OPTIONS)
    .option('--json', 'print the result as JSON on stdout, no progress')
    .action(async (flags: { json?: boolean }) => {
      const { train } = await import('../api/train.js');
      const stop = stopOnSignals('stopping after this step, with a checkpoint');
      try {
        const result = await train({
          ...typedFlags(command, TRAIN_OPTIONS),
          signal: stop.signal,
          progress: flags.json ? undefined : 'stderr',
        });
        if (flags.json) {
          console.log(JSON.stringify(result));
          return;
        }
        const v = result.validation;
        console.log(
          `val MAE ${v.mae.toFixed(2)} | CS@5 ${(v.cs5 * 100).toFixed(1)}% | gender ${(v.genderAcc * 100).toFixed(1)}% | ` +
            `${result.imagesPerSecond.toFixed(1)} img/s | ${result.servingDir}`,
        );
      } finally {
        stop.dispose();
      }
    });
}
