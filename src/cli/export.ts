import type { Command } from 'commander';
import { EXPORT_OPTIONS } from '../api/export.js';
import { schemaCommand } from './command.js';

export function register(program: Command): void {
  const command = program
    .command('export')
    .description(
      'export the latest checkpoint of a run as a serving bundle (model-dir/serving/<timestamp>/)',
    );
  schemaCommand(command, EXPORT_OPTIONS, {
    run: async (options) => (await import('../api/export.js')).exportCheckpoint(options),
    warnings: (r) => (r.skipped ? [`${r.skipped}; exported the checkpoint before it`] : []),
    text: (r) => `exported step ${r.step} to ${r.servingDir}`,
  });
}
