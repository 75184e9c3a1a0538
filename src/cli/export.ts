import { Command } from 'commander';
import { EXPORT_OPTIONS } from '../api/export.js';
import { addFlags, typedFlags } from './flags.js';

export function register(program: Command): void {
  const command = program
    .command('export')
    .description(
      'export the latest checkpoint of a run as a serving bundle (model-dir/serving/<timestamp>/)',
    );
  addFlags(command, EXPORT_OPTIONS)
    .option('--json', 'print the result as JSON on stdout')
    .action(async (flags: { json?: boolean }) => {
      const { exportCheckpoint } = await import('../api/export.js');
      const result = await exportCheckpoint(typedFlags(command, EXPORT_OPTIONS));
      if (result.skipped)
        console.error(`agegender: warning: ${result.skipped}; exported the checkpoint before it`);
      if (flags.json) console.log(JSON.stringify(result));
      else console.log(`exported step ${result.step} to ${result.servingDir}`);
    });
}
