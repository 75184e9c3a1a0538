import type { CommonPreprocessOptions } from '../data/preprocess-options.js';
import type { PreprocessSummary } from '../data/prepare-dataset.js';
import type { SplitRatio } from '../data/split.js';
import { InvalidOptionError } from '../util/errors.js';
import { checkChoice, checkKnownOptions, checkNumber, checkString } from './options.js';
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
  /**
   * Duplicate hygiene (default on: hash distance 22 of 256 bits, age tolerance 2 years): copies are kept on
   * one side of the split, copies whose labels disagree are dropped. false: off.
   */
  dedup?: false | { maxDistance?: number; ageTolerance?: number };
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

export interface AafPreprocessOptions extends PreprocessOptions {
  /** The AAF folder (holding faces/, train.txt, val.txt) or faces/ itself. */
  photoDir: string;
  /**
   * How faces are framed: 'median' (default) runs the detector + predict's crop rule on `framingSample`
   * photos and applies their median region to all (AAF photos are aligned alike); 'detector' does it on every
   * photo (exact, slow); 'whole' uses the photo as it is.
   */
  framing?: 'median' | 'detector' | 'whole';
  /** Photos the median framing is measured on (default 300). */
  framingSample?: number;
  /** Face detector for the framing (default 'ssd-mobilenetv1'). */
  detector?: string;
  /** Detector confidence threshold (default: the detector's own, as predict). */
  minScore?: number;
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

const COMMON = [
  'outputDir',
  'imgSize',
  'quality',
  'splitRatio',
  'seed',
  'labelsOnly',
  'jobs',
  'progress',
  'dedup',
];

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
  const dedup = opts.dedup === false ? null : { maxDistance: 22, ageTolerance: 2, ...(opts.dedup ?? {}) };
  if (dedup) {
    checkNumber(fn, 'dedup.maxDistance', dedup.maxDistance, { int: true, min: 0, max: 255 });
    checkNumber(fn, 'dedup.ageTolerance', dedup.ageTolerance, { int: true, min: 0, max: 100 });
  }
  return {
    dedup,
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

/**
 * All-Age-Faces: ages from the names, gender from the id range (checked against train.txt / val.txt),
 * faces framed the way predict frames detected faces, duplicates handled.
 *
 * @example
 * import { preprocessAaf } from 'agegender';
 * const s = await preprocessAaf({ photoDir: 'data/aaf', outputDir: 'var/aaf150', imgSize: 150 });
 * console.log(s.counts.kept, s.duplicates);
 */
export async function preprocessAaf(opts: AafPreprocessOptions): Promise<PreprocessSummary> {
  const fn = 'preprocessAaf';
  checkKnownOptions(fn, opts, [...COMMON, 'photoDir', 'framing', 'framingSample', 'detector', 'minScore']);
  checkString(fn, 'photoDir', opts?.photoDir, true);
  checkChoice(fn, 'framing', opts.framing, ['median', 'detector', 'whole']);
  checkNumber(fn, 'framingSample', opts.framingSample, { int: true, min: 1, max: 100000 });
  checkNumber(fn, 'minScore', opts.minScore, { min: 0.01, max: 0.99 });
  checkString(fn, 'detector', opts.detector);
  const c = common(fn, opts, null);
  const framing = opts.framing ?? 'median';
  const [{ preprocessAaf: run }, path] = await Promise.all([
    import('../data/preprocess-aaf.js'),
    import('node:path'),
  ]);
  return withProgress(opts.progress, async (quiet) => {
    let framer: Parameters<typeof run>[2];
    if (framing !== 'whole') {
      const [{ parseDetectorName }, regions, { UTKFACE_FACE_CROP }] = await Promise.all([
        import('../infer/detector.js'),
        import('../infer/face-regions.js'),
        import('../infer/crop-rule.js'),
      ]);
      const detector = parseDetectorName(opts.detector ?? 'ssd-mobilenetv1');
      const rule = UTKFACE_FACE_CROP[detector];
      const locate = {
        detector,
        rule,
        minScore: opts.minScore,
        json: quiet,
        cacheFile: path.join(opts.outputDir, '.face-regions.json'),
      };
      framer = async (rows) => {
        if (framing === 'detector') {
          const located = await regions.locateFaces(rows, locate);
          return { rows: located.rows, counts: located.counts, id: regions.framingId(detector, rule) };
        }
        const located = await regions.locateFacesByMedian(rows, {
          ...locate,
          sample: opts.framingSample ?? 300,
        });
        const m = located.median;
        const id =
          `median of ${m.samples}: ${regions.framingId(detector, rule)} -> ` +
          `x ${m.x.toFixed(4)} y ${m.y.toFixed(4)} side ${m.side.toFixed(4)} (of width)`;
        return { rows: located.rows, counts: { ...located.counts, framingSamples: m.samples }, id };
      };
    }
    return run(opts.photoDir, { ...c, json: quiet }, framer);
  });
}
