import { DATASETS, type DatasetName } from '../data/datasets/index.js';
import type { FrameFaces } from '../data/datasets/dataset.js';
import type { PreprocessSummary } from '../data/prepare-dataset.js';
import { parseSplitRatio, type SplitRatio } from '../data/split.js';
import { InvalidOptionError } from '../util/errors.js';
import { PROGRESS, SEED } from '../util/run-options.js';
import { withProgress } from './progress.js';
import { defineOptions, resolveOptions, type OptionsOf, type Schema } from '../util/option-schema.js';

export { DATASETS, type DatasetName };
export type { PreprocessSummary, SplitRatio };

const isSplitRatio = (v: unknown): v is SplitRatio => {
  const r = v as SplitRatio;
  if (r === null || typeof r !== 'object') return false;
  const parts = [r.train, r.val, r.test];
  return (
    parts.every((p) => typeof p === 'number' && Number.isFinite(p) && p >= 0) &&
    Math.abs(parts.reduce((a, b) => a + b, 0) - 1) <= 1e-6 &&
    r.train > 0
  );
};

/** The options every `preprocess <dataset>` takes, declared once; each dataset adds its own. */
const PREPROCESS_OPTIONS = defineOptions({
  outputDir: {
    type: 'path',
    required: true,
    arg: 'dir',
    help: 'where crop/, train.csv, val.csv, test.csv and summary.json go',
  },
  imgSize: { type: 'int', min: 8, max: 4096, default: 224, arg: 'px', help: 'side of the square crops' },
  quality: { type: 'int', min: 1, max: 100, default: 95, arg: 'q', help: 'JPEG quality of the crops' },
  splitRatio: {
    type: 'custom',
    arg: 'r',
    help: 'train,val[,test] fractions, split by identity',
    expect: '{ train, val, test } fractions summing to 1 with train > 0',
    check: isSplitRatio,
    parse: (text) => parseSplitRatio(text),
    default: { train: 0.8, val: 0.1, test: 0.1 },
    defaultHelp: '0.8,0.1,0.1',
  },
  seed: { ...SEED, default: 42, help: 'seed of the split' },
  labelsOnly: {
    type: 'boolean',
    default: false,
    help: 'write CSVs and summary from the labels alone, without reading any image',
  },
  jobs: {
    type: 'int',
    min: 1,
    max: 1024,
    help: 'images in flight at once',
    defaultHelp: 'enough for all cores',
  },
  dedup: {
    type: 'boolean',
    default: true,
    help: 'keep duplicate images as they are (default: find them, see --dup-distance)',
  },
  dupDistance: {
    type: 'int',
    min: 0,
    max: 255,
    default: 22,
    arg: 'bits',
    help: 'near-duplicate threshold: differing bits of the 256-bit image hash',
  },
  dupAgeTolerance: {
    type: 'int',
    min: 0,
    max: 100,
    default: 2,
    arg: 'years',
    help: 'copies whose ages differ by more (or whose genders differ) are dropped',
  },
  progress: PROGRESS,
});

type Own<S> = S extends Schema ? OptionsOf<S> : never;
type Options<N extends DatasetName> = PreprocessOptions & Own<(typeof DATASETS)[N]['options']>;

export type UtkfacePreprocessOptions = Options<'utkface'>;
export type ImdbWikiPreprocessOptions = Options<'imdb-wiki'>;
export type CsvPreprocessOptions = Options<'csv'>;
export type AafPreprocessOptions = Options<'aaf'>;
export type PreprocessOptionsOf<N extends DatasetName> = Options<N>;

/** Options of the functions below: the common ones plus the dataset's (the flags of its command). */
export type PreprocessOptions = OptionsOf<typeof PREPROCESS_OPTIONS>;

/** The whole schema of `preprocess <name>`: the common options, then the dataset's. */
export function preprocessSchema(name: DatasetName): Schema {
  // The dataset's own options first (they say what to read), then the common ones.
  return { ...DATASETS[name].options, ...PREPROCESS_OPTIONS };
}

/**
 * Turns a dataset into square crops, train/val/test CSVs split by identity and summary.json.
 *
 * @example
 * import { preprocess } from 'agegender';
 * const s = await preprocess('utkface', { photoDir: 'data/utkface', outputDir: 'var/utk64', imgSize: 64 });
 * console.log(s.counts.kept, s.files.train);
 */
export function preprocess<N extends DatasetName>(name: N, options: Options<N>): Promise<PreprocessSummary> {
  return run('preprocess', name, options);
}

/** `fn` names the function in option errors (`preprocessUtkface: option imgSize must be ...`). */
async function run<N extends DatasetName>(
  fn: string,
  name: N,
  options: Options<N>,
): Promise<PreprocessSummary> {
  if (typeof name !== 'string' || !Object.hasOwn(DATASETS, name))
    throw new InvalidOptionError(
      `${fn}: unknown dataset "${String(name)}" (expected one of ${Object.keys(DATASETS).join(', ')})`,
    );
  const adapter = DATASETS[name];
  const all = resolveOptions(fn, preprocessSchema(name), options) as Record<string, unknown>;
  const common = Object.fromEntries(Object.keys(PREPROCESS_OPTIONS).map((k) => [k, all[k]]));
  const own = Object.fromEntries(Object.keys(adapter.options).map((k) => [k, all[k]]));
  const o = common as ReturnType<typeof resolveOptions<typeof PREPROCESS_OPTIONS>>;
  const { preprocessDataset } = await import('../data/preprocess.js');
  return withProgress(o.progress, (quiet) =>
    preprocessDataset(
      adapter,
      own as never,
      {
        outputDir: o.outputDir,
        crop: { imgSize: o.imgSize, quality: o.quality, margin: null },
        splitRatio: o.splitRatio,
        seed: o.seed,
        labelsOnly: o.labelsOnly,
        json: quiet,
        concurrency: o.jobs,
        dedup: o.dedup ? { maxDistance: o.dupDistance, ageTolerance: o.dupAgeTolerance } : null,
      },
      frameFaces,
    ),
  );
}

/**
 * UTKFace: labels from the file names; crops, an identity-free split and CSVs.
 *
 * @example
 * import { preprocessUtkface } from 'agegender';
 * const s = await preprocessUtkface({ photoDir: 'data/utkface', outputDir: 'var/utk64', imgSize: 64 });
 * console.log(s.counts.kept, s.files.train);
 */
export const preprocessUtkface = (opts: UtkfacePreprocessOptions) =>
  run('preprocessUtkface', 'utkface', opts);

/** IMDB-WIKI: labels from imdb.mat / wiki.mat with the seed's rules, split by identity. */
export const preprocessImdbWiki = (opts: ImdbWikiPreprocessOptions) =>
  run('preprocessImdbWiki', 'imdb-wiki', opts);

/** Any CSV with a path column and age / gender columns. */
export const preprocessCsv = (opts: CsvPreprocessOptions) => run('preprocessCsv', 'csv', opts);

/**
 * All-Age-Faces: ages from the names, gender from the id range (checked against train.txt / val.txt),
 * faces framed the way predict frames detected faces, duplicates handled.
 *
 * @example
 * import { preprocessAaf } from 'agegender';
 * const s = await preprocessAaf({ photoDir: 'data/aaf', outputDir: 'var/aaf150', imgSize: 150 });
 * console.log(s.counts.kept, s.duplicates);
 */
export const preprocessAaf = (opts: AafPreprocessOptions) => run('preprocessAaf', 'aaf', opts);

/** Face framing for the readers that ask for it: the detector and predict's crop rule (src/infer/). */
const frameFaces: FrameFaces = async (rows, req) => {
  const [{ parseDetectorName }, regions, { UTKFACE_FACE_CROP }] = await Promise.all([
    import('../infer/detector.js'),
    import('../infer/face-regions.js'),
    import('../infer/crop-rule.js'),
  ]);
  const detector = parseDetectorName(req.detector);
  const rule = UTKFACE_FACE_CROP[detector];
  const locate = { detector, rule, minScore: req.minScore, json: req.quiet, cacheFile: req.cacheFile };
  if (req.how === 'detector') {
    const located = await regions.locateFaces(rows, locate);
    return { rows: located.rows, counts: located.counts, id: regions.framingId(detector, rule) };
  }
  const located = await regions.locateFacesByMedian(rows, { ...locate, sample: req.sample });
  const m = located.median;
  const id =
    `median of ${m.samples}: ${regions.framingId(detector, rule)} -> ` +
    `x ${m.x.toFixed(4)} y ${m.y.toFixed(4)} side ${m.side.toFixed(4)} (of width)`;
  return { rows: located.rows, counts: { ...located.counts, framingSamples: m.samples }, id };
};
