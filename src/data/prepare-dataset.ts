import path from 'node:path';
import { UserError } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { labelsCsvText, type LabelledImage } from './labels-csv.js';
import { replaceOutputSet, type OutputName } from './output-set.js';
import { ownOutputSet } from './output-folder.js';
import { prepareCropDir, writeCrops, type CropJob, type CropSettings } from './crops/write-crops.js';
import { ageHistogram, histogramSvg, svgToPng } from './histogram.js';
import { splitByGroup, type SplitRatio } from './split.js';
import {
  resolveDuplicates,
  type DuplicateOptions,
  type DuplicateReport,
  type ImageHash,
} from './duplicates.js';
import type { SquareRegion } from './image.js';

/** One labelled source image that passed a dataset's label rules. */
export interface LabelledSource {
  /** Path of the source image (read). */
  source: string;
  /** Path of its crop relative to `<output-dir>/crop`; also the `filename` column of the CSVs. */
  filename: string;
  age: number;
  /** Seed convention: 1 = male, 0 = female. */
  gender: 0 | 1;
  /** Who is in the picture; all rows of one identity go to the same split part. */
  identity: string;
  /** Optional face box [x1, y1, x2, y2] (MATLAB 1-based), used when re-cropping with a margin. */
  box?: readonly number[];
  /** Optional square face region (0-based, may reach outside the image), e.g. from a face detector. */
  region?: SquareRegion;
}

/** How the shared back half of `preprocess` runs (the api layer resolves them from the options). */
export interface PrepareOptions {
  /** The adapter's name (datasets/index.ts). */
  dataset: string;
  outputDir: string;
  /** Crop settings; ignored with labelsOnly. */
  crop: CropSettings;
  splitRatio: SplitRatio;
  seed: number;
  /** Write CSVs and summary from the labels alone, without touching images (no photos at hand). */
  labelsOnly: boolean;
  /** No progress output. */
  json: boolean;
  /** Images in flight at once (default: enough for all cores). */
  concurrency?: number;
  /** Find duplicate crops, keep each cluster on one side, drop clusters whose labels disagree (null: off). */
  dedup: DuplicateOptions | null;
  /** Counts the dataset reader gathered before this step (rows read, dropped by each rule, ...). */
  counts: Record<string, number>;
  /** Anything else worth recording about the input (paths, a few malformed names, ...). */
  input: Record<string, unknown>;
  /** The reader's warnings, kept in summary.json. */
  warnings?: string[];
}

export interface PartSummary {
  rows: number;
  male: number;
  female: number;
  identities: number;
}

export interface PreprocessSummary {
  format: 'agegender-preprocess-summary';
  version: 1;
  dataset: PrepareOptions['dataset'];
  input: Record<string, unknown>;
  /** Things the user should know that did not stop the run (e.g. AAF without its lists). */
  warnings: string[];
  settings: {
    imgSize: number | null;
    quality: number | null;
    margin: number | null;
    splitRatio: SplitRatio;
    seed: number;
    labelsOnly: boolean;
  };
  /** The reader's counts, then: labelled (passed the rules), missing, unreadable, kept (in the CSVs). */
  counts: Record<string, number>;
  crops: { written: number; reused: number; seconds: number; imagesPerSecond: number } | null;
  /** Duplicate clusters among the crops (null with --labels-only or --no-dedup). */
  duplicates: (DuplicateReport<unknown>['counts'] & { maxDistance: number; ageTolerance: number }) | null;
  gender: { male: number; female: number };
  split: { train: PartSummary; val: PartSummary; test: PartSummary };
  /** Rows per age 0..100 among the kept rows. */
  ageHistogram: number[];
  /** Up to 20 examples of each kind of skipped image, with the reason. */
  examples: {
    missing: string[];
    unreadable: { file: string; reason: string }[];
    conflictingDuplicates: DuplicateReport<unknown>['examples'];
  };
  files: { crop: string | null; train: string; val: string; test: string | null; histogram: string[] };
}

const EXAMPLES = 20;

/**
 * The common back half of every `preprocess` command: crops the images (resumable), keeps the rows whose
 * image could be cropped, splits them by identity, and writes train/val/test.csv, summary.json and the
 * age histogram (SVG + PNG) into the output folder, as one set (see replaceOutputSet), last.
 */
export async function prepareDataset(
  rows: readonly LabelledSource[],
  opts: PrepareOptions,
): Promise<PreprocessSummary> {
  const out = opts.outputDir;
  const cropDir = path.join(out, 'crop');
  const status = new Uint8Array(rows.length); // 0 pending, 1 kept, 2 missing, 3 unreadable
  const hashes: (ImageHash | null)[] = new Array(rows.length).fill(null);
  const missing: string[] = [];
  const unreadable: { file: string; reason: string }[] = [];
  let written = 0;
  let reused = 0;
  let crops: PreprocessSummary['crops'] = null;

  if (opts.labelsOnly) {
    status.fill(1);
  } else {
    const inside = (p: string) => !path.relative(path.resolve(cropDir), path.resolve(p)).startsWith('..');
    const clash = rows.find((r) => inside(r.source));
    if (clash)
      throw new UserError(`${clash.source}: a source photo lies inside the output crop folder ${cropDir}`);
    const log = await prepareCropDir(cropDir, opts.crop);
    const index = new Map<CropJob, number>();
    const jobs = rows.map((r, i) => {
      const job: CropJob = { source: r.source, target: r.filename, box: r.box, region: r.region };
      index.set(job, i);
      return job;
    });
    const progress = createProgress({ unit: 'images', total: jobs.length, json: opts.json });
    const start = performance.now();
    let skipped = 0;
    await writeCrops(
      cropDir,
      jobs,
      opts.crop,
      log,
      (job, outcome) => {
        const i = index.get(job)!;
        if (outcome.status === 'written' || outcome.status === 'existing') {
          status[i] = 1;
          hashes[i] = outcome.hash;
          if (outcome.status === 'written') written++;
          else reused++;
        } else if (outcome.status === 'missing') {
          status[i] = 2;
          skipped++;
          if (missing.length < EXAMPLES) missing.push(job.source);
        } else {
          status[i] = 3;
          skipped++;
          if (unreadable.length < EXAMPLES)
            unreadable.push({ file: job.source, reason: 'reason' in outcome ? outcome.reason : '' });
        }
        progress.tick(1, { skipped });
      },
      opts.concurrency,
    );
    progress.stop();
    const seconds = (performance.now() - start) / 1000;
    crops = {
      written,
      reused,
      seconds: Math.round(seconds * 100) / 100,
      imagesPerSecond: Math.round((written / Math.max(seconds, 1e-3)) * 10) / 10,
    };
  }

  const keptIndex = rows.flatMap((_, i) => (status[i] === 1 ? [i] : []));
  let kept = keptIndex.map((i) => rows[i]!);
  // Copies of one image must not sit on both sides of the split, and copies whose labels disagree
  // cannot all be right: hash the crops (what the model sees), cluster, drop conflicting clusters.
  let duplicates: PreprocessSummary['duplicates'] = null;
  let conflictingDuplicates: DuplicateReport<unknown>['examples'] = [];
  let groupOf = (r: LabelledSource) => r.identity;
  if (!opts.labelsOnly && opts.dedup) {
    const report = resolveDuplicates(
      kept,
      keptIndex.map((i) => hashes[i]!),
      (r) => r.identity,
      opts.dedup,
    );
    const group = new Map(report.kept.map((k) => [k.row, k.group]));
    kept = report.kept.map((k) => k.row);
    groupOf = (r) => group.get(r)!;
    duplicates = { ...report.counts, ...opts.dedup };
    conflictingDuplicates = report.examples;
  }
  const parts = splitByGroup(kept, groupOf, opts.splitRatio, opts.seed);
  const toCsv = (list: LabelledSource[]): LabelledImage[] =>
    list.map((r) => ({ filename: r.filename, age: r.age, gender: r.gender }));
  const partSummary = (list: LabelledSource[]): PartSummary => {
    const male = list.filter((r) => r.gender === 1).length;
    return {
      rows: list.length,
      male,
      female: list.length - male,
      identities: new Set(list.map((r) => r.identity)).size,
    };
  };

  const files: PreprocessSummary['files'] = {
    crop: opts.labelsOnly ? null : cropDir,
    train: path.join(out, 'train.csv'),
    val: path.join(out, 'val.csv'),
    test: opts.splitRatio.test > 0 ? path.join(out, 'test.csv') : null,
    histogram: [path.join(out, 'age-histogram.svg'), path.join(out, 'age-histogram.png')],
  };

  const male = kept.filter((r) => r.gender === 1).length;
  const hist = ageHistogram(kept.map((r) => r.age));
  const summary: PreprocessSummary = {
    format: 'agegender-preprocess-summary',
    version: 1,
    dataset: opts.dataset,
    input: opts.input,
    warnings: opts.warnings ?? [],
    settings: {
      imgSize: opts.labelsOnly ? null : opts.crop.imgSize,
      quality: opts.labelsOnly ? null : opts.crop.quality,
      margin: opts.labelsOnly ? null : opts.crop.margin,
      splitRatio: opts.splitRatio,
      seed: opts.seed,
      labelsOnly: opts.labelsOnly,
    },
    counts: {
      ...opts.counts,
      labelled: rows.length,
      missing: status.reduce((n, s) => n + (s === 2 ? 1 : 0), 0),
      unreadable: status.reduce((n, s) => n + (s === 3 ? 1 : 0), 0),
      ...(duplicates ? { droppedConflictingDuplicates: duplicates.droppedConflicting } : {}),
      kept: kept.length,
    },
    crops,
    duplicates,
    gender: { male, female: kept.length - male },
    split: { train: partSummary(parts.train), val: partSummary(parts.val), test: partSummary(parts.test) },
    ageHistogram: hist,
    examples: { missing, unreadable, conflictingDuplicates },
    files,
  };
  const svg = histogramSvg(hist, `${opts.dataset}: ages of ${kept.length} kept rows`);
  const set: Partial<Record<OutputName, string | Uint8Array | null>> = {
    'train.csv': labelsCsvText(toCsv(parts.train)),
    'val.csv': labelsCsvText(toCsv(parts.val)),
    'test.csv': files.test ? labelsCsvText(toCsv(parts.test)) : null,
    'age-histogram.svg': svg,
    'age-histogram.png': await svgToPng(svg),
    'summary.json': JSON.stringify(summary, null, 2) + '\n',
  };
  // Only files agegender wrote are ever replaced or removed (output-folder.ts).
  await ownOutputSet(
    out,
    (Object.keys(set) as OutputName[]).filter((n) => set[n] != null),
  );
  // All or nothing: a kill never leaves this run's train.csv beside the previous run's val.csv.
  await replaceOutputSet(out, set);
  return summary;
}
