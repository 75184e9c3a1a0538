import { Command } from 'commander';
import { promises as fs } from 'node:fs';
import { UserError } from '../util/errors.js';
import type { CommonPreprocessOptions } from '../data/preprocess-options.js';
import type { PreprocessSummary } from '../data/prepare-dataset.js';
import type { PreprocessOptions } from '../api/preprocess.js';
import { num } from './parse-number.js';

interface CommonFlags {
  outputDir: string;
  imgSize: string;
  quality: string;
  splitRatio: string;
  seed: string;
  labelsOnly?: boolean;
  json?: boolean;
  jobs?: string;
  dedup: boolean;
  dupDistance: string;
  dupAgeTolerance: string;
}

const int = (name: string, text: string, min: number, max: number) =>
  num(name, text, { int: true, min, max });

/** Flags shared by every dataset: output, crop size, split and machine mode. */
function withCommonFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--output-dir <dir>', 'where crop/, train.csv, val.csv, test.csv and summary.json go')
    .option('--img-size <px>', 'side of the square crops', '224')
    .option('--quality <q>', 'JPEG quality of the crops', '95')
    .option('--split-ratio <r>', 'train,val[,test] fractions, split by identity', '0.8,0.1,0.1')
    .option('--seed <n>', 'seed of the split', '42')
    .option('--labels-only', 'write CSVs and summary from the labels alone, without reading any image')
    .option('--jobs <n>', 'images in flight at once (default: enough for all cores)')
    .option('--json', 'print the summary as JSON on stdout, no progress')
    .option('--no-dedup', 'keep duplicate images as they are (default: find them, see --dup-distance)')
    .option(
      '--dup-distance <bits>',
      'near-duplicate threshold: differing bits of the 256-bit image hash',
      '22',
    )
    .option(
      '--dup-age-tolerance <years>',
      'copies whose ages differ by more (or whose genders differ) are dropped',
      '2',
    );
}

async function common(flags: CommonFlags, margin: number | null): Promise<CommonPreprocessOptions> {
  const { parseSplitRatio } = await import('../data/split.js');
  return {
    outputDir: flags.outputDir,
    crop: {
      imgSize: int('--img-size', flags.imgSize, 8, 4096),
      quality: int('--quality', flags.quality, 1, 100),
      margin,
    },
    splitRatio: parseSplitRatio(flags.splitRatio),
    seed: int('--seed', flags.seed, 0, 2 ** 32 - 1),
    labelsOnly: Boolean(flags.labelsOnly),
    json: Boolean(flags.json),
    concurrency: flags.jobs === undefined ? undefined : int('--jobs', flags.jobs, 1, 1024),
    dedup: flags.dedup
      ? {
          maxDistance: int('--dup-distance', flags.dupDistance, 0, 255),
          ageTolerance: int('--dup-age-tolerance', flags.dupAgeTolerance, 0, 100),
        }
      : null,
  };
}

/** The parsed flags as the library's options (src/api/preprocess.ts); progress goes to stderr unless --json. */
function libraryOptions(o: CommonPreprocessOptions): PreprocessOptions {
  return {
    outputDir: o.outputDir,
    imgSize: o.crop.imgSize,
    quality: o.crop.quality,
    splitRatio: o.splitRatio,
    seed: o.seed,
    labelsOnly: o.labelsOnly,
    jobs: o.concurrency,
    progress: o.json ? undefined : 'stderr',
    dedup: o.dedup ? { ...o.dedup } : false,
  };
}

/** Without --labels-only the photo folder must exist: say so plainly instead of counting every image missing. */
async function requirePhotoDir(dir: string | undefined, labelsOnly: boolean): Promise<void> {
  if (labelsOnly) return;
  if (!dir)
    throw new UserError(
      '--photo-dir is required (or pass --labels-only to write the CSVs from the labels alone)',
    );
  const st = await fs.stat(dir).catch(() => null);
  if (!st?.isDirectory())
    throw new UserError(
      `${dir}: photo folder not found (pass --labels-only to write the CSVs and summary without images)`,
    );
}

async function report(summary: PreprocessSummary, json: boolean): Promise<void> {
  if (json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  if (!json) {
    const { formatSummary } = await import('../data/prepare-dataset.js');
    console.log(formatSummary(summary));
  }
  if (summary.counts.kept === 0)
    throw new UserError(`${summary.files.train}: no rows kept (see summary.json beside it for why)`);
}

export function register(program: Command): void {
  const pre = program
    .command('preprocess')
    .description('Turn a face dataset into square crops plus train/val/test CSVs (filename,age,gender)');

  withCommonFlags(
    pre
      .command('utkface')
      .description('UTKFace: labels from the names age_gender_race_datetime.jpg.chip.jpg')
      .requiredOption('--photo-dir <dir>', 'folder of UTKFace crops'),
  ).action(async (flags: CommonFlags & { photoDir: string }) => {
    const opts = await common(flags, null);
    await requirePhotoDir(flags.photoDir, false);
    const { preprocessUtkface } = await import('../api/preprocess.js');
    await report(await preprocessUtkface({ ...libraryOptions(opts), photoDir: flags.photoDir }), opts.json);
  });

  withCommonFlags(
    pre
      .command('imdb-wiki')
      .description("IMDB-WIKI: labels from imdb.mat / wiki.mat with the seed's rules, split by identity")
      .requiredOption('--db-path <file>', 'imdb.mat or wiki.mat (MATLAB v5)')
      .option('--photo-dir <dir>', 'folder the full_path entries are relative to (e.g. data/imdb_crop)')
      .option('--min-score <s>', 'keep faces with face_score >= this', '1.0')
      .option('--recrop-margin <m>', 're-crop from face_location grown by m x the box size on each side'),
  ).action(
    async (
      flags: CommonFlags & { dbPath: string; photoDir?: string; minScore: string; recropMargin?: string },
    ) => {
      // face_score runs from -Inf (no face) to about 8; any plain number is a threshold.
      const minScore = num('--min-score', flags.minScore, { min: -1e6, max: 1e6 });
      const margin =
        flags.recropMargin === undefined
          ? null
          : num('--recrop-margin', flags.recropMargin, { min: 0, max: 10 });
      const opts = await common(flags, margin);
      await requirePhotoDir(flags.photoDir, opts.labelsOnly);
      const { preprocessImdbWiki } = await import('../api/preprocess.js');
      const { dbPath, photoDir } = flags;
      const lib = { ...libraryOptions(opts), dbPath, photoDir, minScore, recropMargin: margin ?? undefined };
      await report(await preprocessImdbWiki(lib), opts.json);
    },
  );

  withCommonFlags(
    pre
      .command('csv')
      .description('Any CSV with a path column and age / gender columns (names given by flags)')
      .requiredOption('--csv <file>', 'the labels: one row per image')
      .option('--photo-dir <dir>', 'folder the paths in the CSV are relative to', '.')
      .option('--path-col <name>', 'column with the image path', 'filename')
      .option('--age-col <name>', 'column with the age in years', 'age')
      .option('--gender-col <name>', 'column with the gender', 'gender')
      .option('--male-value <v>', 'gender value meaning male (case-insensitive)', '1')
      .option('--female-value <v>', 'gender value meaning female (case-insensitive)', '0')
      .option('--identity-col <name>', 'column naming the person, to split by identity'),
  ).action(
    async (
      flags: CommonFlags & {
        csv: string;
        photoDir: string;
        pathCol: string;
        ageCol: string;
        genderCol: string;
        maleValue: string;
        femaleValue: string;
        identityCol?: string;
      },
    ) => {
      const opts = await common(flags, null);
      await requirePhotoDir(flags.photoDir, opts.labelsOnly);
      const { preprocessCsv } = await import('../api/preprocess.js');
      const { csv, photoDir, pathCol, ageCol, genderCol, identityCol, maleValue, femaleValue } = flags;
      const cols = { pathCol, ageCol, genderCol, identityCol, maleValue, femaleValue };
      const summary = await preprocessCsv({ ...libraryOptions(opts), csv, photoDir, ...cols });
      await report(summary, opts.json);
    },
  );

  withCommonFlags(
    pre
      .command('aaf')
      .description('All-Age-Faces: faces/NNNNNAaa.jpg (aa = age), gender from the id range and train/val.txt')
      .requiredOption(
        '--photo-dir <dir>',
        'the AAF folder (holding faces/, train.txt, val.txt) or faces/ itself',
      )
      .option(
        '--framing <how>',
        "'median': the detector + predict's crop rule on --framing-sample photos, their median region applied " +
          "to all (AAF photos are aligned alike); 'detector': the same on every photo (exact, ~1 s a photo); " +
          "'whole': the photo as it is",
        'median',
      )
      .option('--framing-sample <n>', 'photos the median framing is measured on', '300')
      .option('--detector <name>', 'face detector for --framing detector', 'ssd-mobilenetv1')
      .option('--min-score <s>', "detector confidence threshold (default: the detector's own, as predict)"),
  ).action(
    async (
      flags: CommonFlags & {
        photoDir: string;
        framing: string;
        framingSample: string;
        detector: string;
        minScore?: string;
      },
    ) => {
      const opts = await common(flags, null);
      await requirePhotoDir(flags.photoDir, opts.labelsOnly);
      if (!['median', 'detector', 'whole'].includes(flags.framing))
        throw new UserError(`--framing "${flags.framing}": expected median, detector or whole`);
      const minScore = flags.minScore === undefined ? undefined : Number(flags.minScore);
      if (minScore !== undefined && !(minScore > 0 && minScore < 1))
        throw new UserError(`--min-score "${flags.minScore}": expected a number between 0 and 1`);
      const { preprocessAaf } = await import('../api/preprocess.js');
      const summary = await preprocessAaf({
        ...libraryOptions(opts),
        photoDir: flags.photoDir,
        framing: flags.framing as 'median' | 'detector' | 'whole',
        framingSample: int('--framing-sample', flags.framingSample, 1, 100000),
        detector: flags.detector,
        minScore,
      });
      await report(summary, opts.json);
    },
  );
}
