import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { DATASETS, type DatasetName } from '../data/datasets/index.js';
import type { PreprocessSummary } from '../data/prepare-dataset.js';
import { PREPROCESS_OPTIONS } from '../api/preprocess.js';
import { addFlags, typedFlags } from './flags.js';

/** `agegender preprocess <dataset>`: one subcommand per dataset adapter (src/data/datasets/). */
export function register(program: Command): void {
  const pre = program
    .command('preprocess')
    .description('Turn a face dataset into square crops plus train/val/test CSVs (filename,age,gender)');
  for (const name of Object.keys(DATASETS) as DatasetName[]) {
    const adapter = DATASETS[name];
    const command = pre.command(name).description(adapter.description);
    // The dataset's own flags first (they say what to read), then the common ones.
    addFlags(command, adapter.options);
    addFlags(command, PREPROCESS_OPTIONS);
    command
      .option('--json', 'print the summary as JSON on stdout, no progress')
      .action(async (flags: { json?: boolean }) => {
        const { preprocess, preprocessSchema } = await import('../api/preprocess.js');
        const summary = await preprocess(name, {
          ...(typedFlags(command, preprocessSchema(name)) as object),
          progress: flags.json ? undefined : 'stderr',
        } as never);
        await report(summary, Boolean(flags.json));
      });
  }
}

async function report(summary: PreprocessSummary, json: boolean): Promise<void> {
  for (const w of summary.warnings) process.stderr.write(`warning: ${w}\n`);
  if (json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else {
    const { formatSummary } = await import('../data/prepare-dataset.js');
    console.log(formatSummary(summary));
  }
  if (summary.counts.kept === 0)
    throw new UserError(`${summary.files.train}: no rows kept (see summary.json beside it for why)`);
}
