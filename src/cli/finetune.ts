import { Command } from 'commander';
import { FINETUNE_OPTIONS } from '../api/finetune.js';
import { addFlags, typedFlags } from './flags.js';
import { stopOnSignals } from './stop-signal.js';

export function register(program: Command): void {
  const command = program
    .command('finetune')
    .description(
      "train age/gender heads on the pretrained dlib face backbone (features cached) and export a serving bundle; the defaults are the default model's recipe",
    );
  addFlags(command, FINETUNE_OPTIONS)
    .option('--json', 'print the result as JSON on stdout, no progress')
    .action(async (flags: { json?: boolean }) => {
      const { finetune } = await import('../api/finetune.js');
      const stop = stopOnSignals('stopping after this step');
      try {
        const result = await finetune({
          ...typedFlags(command, FINETUNE_OPTIONS),
          signal: stop.signal,
          progress: flags.json ? undefined : 'stderr',
        });
        if (flags.json) {
          console.log(JSON.stringify(result));
          return;
        }
        for (const v of result.validation)
          console.log(
            `${v.name} val (flip-averaged): MAE ${v.flip.mae.toFixed(2)} | CS@5 ${(v.flip.cs5 * 100).toFixed(1)}% | ` +
              `gender ${(v.flip.genderAcc * 100).toFixed(1)}%`,
          );
        console.log(
          `${result.trainImages} training images, ${result.wallSeconds.toFixed(0)} s | ${result.servingDir}`,
        );
      } finally {
        stop.dispose();
      }
    });
}
