import type { Command } from 'commander';
import { FINETUNE_OPTIONS } from '../api/finetune.js';
import { schemaCommand } from './command.js';

export function register(program: Command): void {
  const command = program
    .command('finetune')
    .description(
      "train age/gender heads on the pretrained dlib face backbone (features cached), then every layer on the images, and export a serving bundle; the defaults are the default model's recipe",
    );
  schemaCommand(command, FINETUNE_OPTIONS, {
    run: async (options) => (await import('../api/finetune.js')).finetune(options),
    stopping: 'stopping after this step',
    text: (r) =>
      [
        ...r.validation.map(
          ({ name, flip }) =>
            `${name} val (flip-averaged): MAE ${flip.mae.toFixed(2)} | CS@5 ${(flip.cs5 * 100).toFixed(1)}% | ` +
            `gender ${(flip.genderAcc * 100).toFixed(1)}%`,
        ),
        `${r.trainImages} training images, ${r.wallSeconds.toFixed(0)} s | ${r.servingDir}`,
      ].join('\n'),
  });
}
