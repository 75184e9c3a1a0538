import type { CommonPreprocessOptions } from '../data/preprocess-options.js';
import type { PreprocessSummary } from '../data/prepare-dataset.js';
import type { SplitRatio } from '../data/split.js';
import { InvalidOptionError } from '../util/errors.js';
import { checkKnownOptions, checkNumber, checkString } from './options.js';
import { withProgress, type ProgressOption } from './progress.js';

export type { PreprocessSummary, SplitRatio };

/** Options every preprocess function shares (`agegender preprocess ...`'s common flags, same defaults). */
export interface PreprocessOptions {
  /** Where crop/, train.csv, val.csv, test.csv and summary.json go. */
  outputDir: string;
  /** Side of the square crops (default 224). */
  imgSize?: number;
  /** JPEG quality of the crops (default 95). */
  quality?: number;
  /** train / val / test fractions, split by identity (default 0.8 / 0.1 / 0.1). */
  splitRatio?: SplitRatio;
  /** Seed of the split (default 42). */
  seed?: number;
  /** Write CSVs and summary from the labels alone, without reading any image. */
  labelsOnly?: boolean;
  /** Images in flight at once (default: enough for all cores). */
  jobs?: number;
  /** Progress in images. */
  progress?: ProgressOption;
}

export interface UtkfacePreprocessOptions extends PreprocessOptions {
  /** Folder of UTKFace crops (age_gender_race_datetime.jpg.chip.jpg). */
  photoDir: string;
}

export interface ImdbWikiPreprocessOptions extends PreprocessOptions {
  /** imdb.mat or wiki.mat (MATLAB v5). */
  dbPath: string;
  /** Folder the full_path entries are relative to (required unless labelsOnly). */
  photoDir?: string;
  /** Keep faces with face_score >= this (default 1.0). */
  minScore?: number;
  /** Re-crop from face_location grown by this many box sizes on each side (0..10); default: no re-crop. */
  recropMargin?: number;
}

export interface CsvPreprocessOptions extends PreprocessOptions {
  /** The labels: one row per image. */
  csv: string;
  /** Folder the paths in the CSV are relative to (default '.'). */
  photoDir?: string;
  /** Column names (defaults filename, age, gender) and an optional identity column. */
  pathCol?: string;
  ageCol?: string;
  genderCol?: string;
  identityCol?: string;
  /** Values of the gender column meaning male / female, case-insensitive (defaults '1' / '0'). */
  maleValue?: string;
  femaleValue?: string;
}

const COMMON = ['outputDir', 'imgSize', 'quality', 'splitRatio', 'seed', 'labelsOnly', 'jobs', 'progress'];

function common(fn: string, opts: PreprocessOptions, margin: number | null): CommonPreprocessOptions {
  checkString(fn, 'outputDir', opts?.outputDir, true);
  checkNumber(fn, 'imgSize', opts.imgSize, { int: true, min: 8, max: 4096 });
  checkNumber(fn, 'quality', opts.quality, { int: true, min: 1, max: 100 });
  checkNumber(fn, 'seed', opts.seed, { int: true, min: 0, max: 2 ** 32 - 1 });
  checkNumber(fn, 'jobs', opts.jobs, { int: true, min: 1, max: 1024 });
  const ratio = opts.splitRatio ?? { train: 0.8, val: 0.1, test: 0.1 };
  const parts = [ratio.train, ratio.val, ratio.test];
  if (
    !parts.every((p) => typeof p === 'number' && Number.isFinite(p) && p >= 0) ||
    Math.abs(parts.reduce((a, b) => a + b, 0) - 1) > 1e-6 ||
    !(ratio.train > 0)
  ) {
    throw new InvalidOptionError(
      `${fn}: option splitRatio must be { train, val, test } fractions summing to 1 with train > 0`,
    );
  }
  return {
    outputDir: opts.outputDir,
    crop: { imgSize: opts.imgSize ?? 224, quality: opts.quality ?? 95, margin },
    splitRatio: ratio,
    seed: opts.seed ?? 42,
    labelsOnly: Boolean(opts.labelsOnly),
    json: false,
    concurrency: opts.jobs,
  };
}

/**
 * UTKFace: labels from the file names; crops, an identity-free split and CSVs.
 *
 * @example
 * import { preprocessUtkface } from 'agegender';
 * const s = await preprocessUtkface({ photoDir: 'data/utkface', outputDir: 'var/utk64', imgSize: 64 });
 * console.log(s.counts.kept, s.files.train);
 */
export async function preprocessUtkface(opts: UtkfacePreprocessOptions): Promise<PreprocessSummary> {
  const fn = 'preprocessUtkface';
  checkKnownOptions(fn, opts, [...COMMON, 'photoDir']);
  checkString(fn, 'photoDir', opts?.photoDir, true);
  const c = common(fn, opts, null);
  const { preprocessUtkface: run } = await import('../data/preprocess-utkface.js');
  return withProgress(opts.progress, (quiet) => run(opts.photoDir, { ...c, json: quiet }));
}

/** IMDB-WIKI: labels from imdb.mat / wiki.mat with the seed's rules, split by identity. */
export async function preprocessImdbWiki(opts: ImdbWikiPreprocessOptions): Promise<PreprocessSummary> {
  const fn = 'preprocessImdbWiki';
  checkKnownOptions(fn, opts, [...COMMON, 'dbPath', 'photoDir', 'minScore', 'recropMargin']);
  checkString(fn, 'dbPath', opts?.dbPath, true);
  checkString(fn, 'photoDir', opts.photoDir);
  checkNumber(fn, 'minScore', opts.minScore);
  checkNumber(fn, 'recropMargin', opts.recropMargin, { min: 0, max: 10 });
  const c = common(fn, opts, opts.recropMargin ?? null);
  const { preprocessImdbWiki: run } = await import('../data/preprocess-imdb-wiki.js');
  return withProgress(opts.progress, (quiet) =>
    run(opts.dbPath, opts.photoDir, opts.minScore ?? 1.0, { ...c, json: quiet }),
  );
}

/** Any CSV with a path column and age / gender columns. */
export async function preprocessCsv(opts: CsvPreprocessOptions): Promise<PreprocessSummary> {
  const fn = 'preprocessCsv';
  const cols = ['pathCol', 'ageCol', 'genderCol', 'identityCol', 'maleValue', 'femaleValue'] as const;
  checkKnownOptions(fn, opts, [...COMMON, 'csv', 'photoDir', ...cols]);
  checkString(fn, 'csv', opts?.csv, true);
  checkString(fn, 'photoDir', opts.photoDir);
  for (const k of cols) checkString(fn, k, opts[k]);
  const c = common(fn, opts, null);
  const { preprocessCsv: run, DEFAULT_CSV_COLUMNS: d } = await import('../data/preprocess-csv.js');
  const columns = {
    pathCol: opts.pathCol ?? d.pathCol,
    ageCol: opts.ageCol ?? d.ageCol,
    genderCol: opts.genderCol ?? d.genderCol,
    identityCol: opts.identityCol,
    maleValue: opts.maleValue ?? d.maleValue,
    femaleValue: opts.femaleValue ?? d.femaleValue,
  };
  return withProgress(opts.progress, (quiet) =>
    run(opts.csv, opts.photoDir ?? '.', columns, { ...c, json: quiet }),
  );
}
