import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { UserError } from '../../util/errors.js';
import { parseDecimal } from '../../util/decimal.js';
import { confinedPath } from '../../util/confine.js';
import type { LabelledSource } from '../prepare-dataset.js';
import { readTextFile } from '../../util/read-text.js';
import { defineDataset, requirePhotoDir } from './dataset.js';

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

export const DEFAULT_CSV_COLUMNS = {
  pathCol: 'filename',
  ageCol: 'age',
  genderCol: 'gender',
  maleValue: '1',
  femaleValue: '0',
} as const satisfies CsvColumns;

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

/** A column name or a value of the gender column (the schema has no plain-text type). */
const text = (help: string, arg = 'name') =>
  ({ type: 'custom', arg, help, expect: 'a non-empty string', check: isText }) as const;

/** Plain CSV: any CSV with a path column and age / gender columns, named by options. */
export const csv = defineDataset({
  name: 'csv',
  description: 'Any CSV with a path column and age / gender columns (names given by flags)',
  options: {
    csv: { type: 'path', required: true, arg: 'file', help: 'the labels: one row per image' },
    photoDir: { type: 'path', default: '.', arg: 'dir', help: 'folder the paths in the CSV are relative to' },
    pathCol: { ...text('column with the image path'), default: DEFAULT_CSV_COLUMNS.pathCol },
    ageCol: { ...text('column with the age in years'), default: DEFAULT_CSV_COLUMNS.ageCol },
    genderCol: { ...text('column with the gender'), default: DEFAULT_CSV_COLUMNS.genderCol },
    maleValue: {
      ...text('gender value meaning male (case-insensitive)', 'v'),
      default: DEFAULT_CSV_COLUMNS.maleValue,
    },
    femaleValue: {
      ...text('gender value meaning female (case-insensitive)', 'v'),
      default: DEFAULT_CSV_COLUMNS.femaleValue,
    },
    identityCol: text('column naming the person, to split by identity'),
  },
  async read(opts, ctx) {
    await requirePhotoDir(opts.photoDir, ctx.labelsOnly);
    const text = await readTextFile(opts.csv);
    const { csv: file, photoDir, ...columns } = opts;
    const { rows, counts, rejected } = parseLabelCsv(text, file, photoDir, columns);
    return {
      rows,
      counts,
      inputFiles: [{ option: 'csv', file }],
      input: {
        csv: path.resolve(file),
        photoDir: path.resolve(photoDir),
        columns,
        rejectedRows: rejected,
      },
    };
  },
});

function isText(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}
