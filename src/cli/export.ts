import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('export')
    .description('export the latest checkpoint of a run as a serving bundle (model-dir/serving/<timestamp>/)')
    .requiredOption('--model-dir <dir>', 'run directory written by train')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (flags: { modelDir: string; json?: boolean }) => {
      const { exportLatest } = await import('../train/export.js');
      const result = await exportLatest(flags.modelDir);
      if (result.skipped)
        console.error(`agegender: warning: ${result.skipped}; exported the checkpoint before it`);
      if (flags.json) console.log(JSON.stringify(result));
      else console.log(`exported step ${result.step} to ${result.servingDir}`);
    });
}
