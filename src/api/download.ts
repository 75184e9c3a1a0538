import { IMDB_WIKI_ARCHIVES, type ImdbWikiArchive } from '../data/datasets/imdb-wiki.js';
import type { DownloadResult } from '../data/download.js';
import { defineOptions, resolveOptions, type OptionsOf } from '../util/option-schema.js';
import { PROGRESS } from '../util/run-options.js';
import { withProgress } from './progress.js';

export type { DownloadResult };

/** `agegender download`'s options, declared once for the CLI and the library. */
export const DOWNLOAD_OPTIONS = defineOptions({
  dataset: {
    type: 'choice',
    choices: Object.keys(IMDB_WIKI_ARCHIVES) as ImdbWikiArchive[],
    required: true,
    cli: false,
    help: 'imdb (imdb_crop.tar, ~7 GB) or wiki (wiki_crop.tar, ~0.8 GB)',
  },
  outputDir: { type: 'path', default: 'data', arg: 'dir', help: 'folder to put <dataset>_crop/ in' },
  force: { type: 'boolean', default: false, help: 'download again even if a finished download is there' },
  urlBase: {
    type: 'path',
    arg: 'url',
    defaultHelp: 'the IMDB-WIKI site',
    help: 'where the .tar files are served',
  },
  keepTar: { type: 'boolean', default: false, help: 'keep the .tar after extracting it' },
  progress: PROGRESS,
});

export type DownloadOptions = OptionsOf<typeof DOWNLOAD_OPTIONS>;

/**
 * Downloads and extracts an IMDB-WIKI face-crop archive to `<outputDir>/<dataset>_crop/` (resumable: a
 * dropped connection keeps its bytes); a finished download is not redone without `force`.
 *
 * @example
 * import { download, preprocess } from 'agegender/train';
 * const { dir, mat } = await download({ dataset: 'wiki', outputDir: 'data' });
 * await preprocess('imdb-wiki', { dbPath: mat, photoDir: dir, outputDir: 'var/wiki150', imgSize: 150 });
 */
export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const opts = resolveOptions('download', DOWNLOAD_OPTIONS, options);
  const { downloadDataset } = await import('../data/download.js');
  return withProgress(opts.progress, (quiet) => downloadDataset(opts.dataset, { ...opts, json: quiet }));
}
