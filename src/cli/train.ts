import type { Command } from 'commander';
import { TRAIN_OPTIONS } from '../api/train.js';
import { schemaCommand } from './command.js';

export function register(program: Command): void {
  const command = program
    .command('train')
    .description(
      'train the age/gender network from scratch on a labels CSV and export a serving bundle (resumable)',
    );
  schemaCommand(command, TRAIN_OPTIONS, {
    run: async (options) => (await import('../api/train.js')).train(options),
    stopping: 'stopping after this step, with a checkpoint',
    text: ({ validation: v, imagesPerSecond, servingDir }) =>
      `val MAE ${v.mae.toFixed(2)} | CS@5 ${(v.cs5 * 100).toFixed(1)}% | gender ${(v.genderAcc * 100).toFixed(1)}% | ` +
      `${imagesPerSecond.toFixed(1)} img/s | ${servingDir}`,
  });
}
