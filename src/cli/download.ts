import type { Command } from 'commander';
import { UserError } from '../util/errors.js';

export function register(program: Command): void {
  program
    .command('download')
    .description(
      'Download and extract the IMDB-WIKI face crops (imdb_crop.tar, ~7 GB; wiki_crop.tar, ~0.8 GB)',
    )
    .argument('<dataset>', 'imdb or wiki')
    .option('--out <dir>', 'folder to put <dataset>_crop/ in', 'data')
    .option('--force', 'download again even if a finished download is there')
    .option('--url-base <url>', 'where the .tar files are served (default: the IMDB-WIKI site)')
    .option('--keep-tar', 'keep the .tar after extracting it')
    .option('--json', 'print the result as JSON on stdout, no progress')
    .action(
      async (
        dataset: string,
        flags: { out: string; force?: boolean; urlBase?: string; keepTar?: boolean; json?: boolean },
      ) => {
        if (dataset !== 'imdb' && dataset !== 'wiki')
          throw new UserError(`unknown dataset "${dataset}": expected imdb or wiki`);
        const { downloadDataset } = await import('../data/download.js');
        const result = await downloadDataset(dataset, {
          outDir: flags.out,
          force: flags.force,
          urlBase: flags.urlBase,
          keepTar: flags.keepTar,
          json: flags.json,
        });
        if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        else
          console.log(
            `${result.dir}: ${result.bytes} bytes from ${result.url}\nnext: agegender preprocess imdb-wiki --db-path ${result.mat} --photo-dir ${result.dir} --output-dir var`,
          );
      },
    );
}
