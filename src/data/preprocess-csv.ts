import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { UserError } from '../util/errors.js';
import { parseDecimal } from '../util/decimal.js';
import { confinedPath } from '../util/confine.js';
import { assertNotAnOutput } from './output-set.js';
import { prepareDataset, type LabelledSource, type PreprocessSummary } from './prepare-dataset.js';
import type { CommonPreprocessOptions } from './preprocess-options.js';
import { readTextFile } from '../util/read-text.js';

/** Which columns of a user's CSV hold what, and how its gender column spells male and female. */
export interface CsvColumns {
  pathCol: string;
  ageCol: string;
  genderCol: string;
  /** Optional column naming the person, so the split keeps each person on one side. */
  identityCol?: string;
  maleValue: string;
  femaleValue: string;
}

export const DEFAULT_CSV_COLUMNS: CsvColumns = {
  pathCol: 'filename',
  ageCol: 'age',
  genderCol: 'gender',
  maleValue: '1',
  femaleValue: '0',
};

/**
 * Where a listed image's crop goes, relative to crop/: the listed path made safe (no leading '/', no '..'),
 * with '.jpg' appended unless it already ends in .jpg/.jpeg, since every crop is written as JPEG.
 */
export function cropNameFor(listed: string): string {
  const parts = listed
    .replace(/\\/g, '/')
    .split('/')
    .filter((p) => p && p !== '.')
    .map((p) => (p === '..' ? '__' : p));
  const name = parts.join('/');
  return /\.jpe?g$/i.test(name) ? name : `${name}.jpg`;
}

export interface CsvRows {
  rows: LabelledSource[];
  counts: Record<string, number>;
  /** A few examples of each kind of rejected row, as `line N: reason`. */
  rejected: string[];
}

/** Reads a user's CSV into labelled rows; rows with unusable labels are skipped and counted. */
export function parseLabelCsv(text: string, file: string, photoDir: string, cols: CsvColumns): CsvRows {
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true, bom: true, skip_empty_lines: true, trim: true }) as Record<
      string,
      string
    >[];
  } catch (err) {
    throw new UserError(`${file}: not a valid CSV: ${(err as Error).message.split('\n')[0]}`);
  }
  if (records.length === 0) throw new UserError(`${file}: no rows after the header`);
  const header = Object.keys(records[0]!);
  for (const [flag, col] of [
    ['--path-col', cols.pathCol],
    ['--age-col', cols.ageCol],
    ['--gender-col', cols.genderCol],
    ['--identity-col', cols.identityCol],
  ] as const)
    if (col !== undefined && !header.includes(col))
      throw new UserError(`${file}:1: no column "${col}" (${flag}); the header has ${header.join(', ')}`);
  const male = cols.maleValue.trim().toLowerCase();
  const female = cols.femaleValue.trim().toLowerCase();
  if (male === female) throw new UserError(`--male-value and --female-value are both "${cols.maleValue}"`);
  const counts = { read: records.length, badPath: 0, badAge: 0, badGender: 0, duplicate: 0 };
  const rejected: string[] = [];
  const reject = (kind: keyof typeof counts, line: number, why: string) => {
    counts[kind]++;
    if (rejected.length < 20) rejected.push(`line ${line}: ${why}`);
  };
  const seen = new Set<string>();
  const rows: LabelledSource[] = [];
  records.forEach((rec, i) => {
    const line = i + 2;
    const listed = rec[cols.pathCol] ?? '';
    if (!listed) return reject('badPath', line, 'empty path');
    const ageText = rec[cols.ageCol] ?? '';
    // Plain decimals only: Number() would also take 1e1, 0x1F and 0b11.
    const age = Math.round(parseDecimal(ageText) ?? NaN);
    if (!(age >= 0 && age <= 100))
      return reject('badAge', line, `age "${ageText}" is not a number in 0..100`);
    const g = (rec[cols.genderCol] ?? '').trim().toLowerCase();
    if (g !== male && g !== female)
      return reject(
        'badGender',
        line,
        `gender "${rec[cols.genderCol]}" is neither "${cols.maleValue}" nor "${cols.femaleValue}"`,
      );
    const source = confinedPath(photoDir, listed);
    if (!source) return reject('badPath', line, `${listed} is not a path inside the photo folder`);
    const filename = cropNameFor(listed);
    if (seen.has(filename)) return reject('duplicate', line, `${listed} is listed twice`);
    seen.add(filename);
    const identity = cols.identityCol ? rec[cols.identityCol] : '';
    rows.push({
      source,
      filename,
      age,
      gender: g === male ? 1 : 0,
      identity: identity ? `id:${identity}` : `path:${filename}`,
    });
  });
  return { rows, counts, rejected };
}

/** Plain CSV: any CSV with a path column and age / gender columns, named by flags. */
export async function preprocessCsv(
  csvFile: string,
  photoDir: string,
  cols: CsvColumns,
  opts: CommonPreprocessOptions,
): Promise<PreprocessSummary> {
  await assertNotAnOutput(opts.outputDir, [{ flag: '--csv', file: csvFile }]);
  const text = await readTextFile(csvFile);
  const { rows, counts, rejected } = parseLabelCsv(text, csvFile, photoDir, cols);
  return prepareDataset(rows, {
    ...opts,
    dataset: 'csv',
    counts,
    input: {
      csv: path.resolve(csvFile),
      photoDir: path.resolve(photoDir),
      columns: cols,
      rejectedRows: rejected,
    },
  });
}
