import { aaf } from './aaf.js';
import { csv } from './csv.js';
import { imdbWiki } from './imdb-wiki.js';
import { utkface } from './utkface.js';

/**
 * Every dataset `preprocess` reads, in the order of `agegender preprocess --help`. The commands and the
 * library functions are generated from this list (src/cli/preprocess.ts, src/api/preprocess.ts).
 */
export const DATASETS = { utkface, 'imdb-wiki': imdbWiki, csv, aaf } as const;
export type DatasetName = keyof typeof DATASETS;
export type { DatasetAdapter, DatasetRows, FrameFaces, FramingRequest, ReadContext } from './dataset.js';
