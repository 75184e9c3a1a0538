import type { Command } from 'commander';
import { DOWNLOAD_OPTIONS } from '../api/download.js';
import { schemaCommand } from './command.js';

export function register(program: Command): void {
  const command = program
    .command('download')
    .description(
      'download and extract the IMDB-WIKI face crops (imdb_crop.tar, ~7 GB; wiki_crop.tar, ~0.8 GB)',
    );
  schemaCommand(command, DOWNLOAD_OPTIONS, {
    args: ['dataset'],
    run: async (options) => (await import('../api/download.js')).download(options),
    text: (r) =>
      `${r.dir}: ${r.bytes} bytes from ${r.url}\n` +
      `next: agegender preprocess imdb-wiki --db-path ${r.mat} --photo-dir ${r.dir} --output-dir var`,
  });
}
