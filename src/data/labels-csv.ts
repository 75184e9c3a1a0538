import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';
import { parseDecimal } from '../util/decimal.js';
import { readTextFile } from '../util/read-text.js';
import { confinedPath } from '../util/confine.js';

/** One labelled image in the CSV schema of the original tutorial, `filename,age,gender` (gender 1 = male, 0 = female). */
export interface LabelledImage {
  filename: string;
  age: number;
  gender: 0 | 1;
}

export const LABEL_COLUMNS = ['filename', 'age', 'gender'] as const;

/**
 * Parses a seed-schema CSV. Fails at once with a one-line error naming file, line and reason on a missing
 * column, a filename outside the image folder (absolute or with `..` climbing out), an age outside 0..100
 * or not an integer, a gender other than 0/1, or an empty file.
 */
export function parseLabelsCsv(text: string, file: string): LabelledImage[] {
  let records: string[][];
  try {
    records = parse(text, { skip_empty_lines: true, trim: true, relax_column_count: true }) as string[][];
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    throw new UserError(
      `${file}${line ? `:${line}` : ''}: not a valid CSV: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (records.length === 0)
    throw new UserError(`${file}: empty file (expected a header filename,age,gender)`);
  const header = records[0]!.map((h) => h.toLowerCase());
  const idx = LABEL_COLUMNS.map((c) => header.indexOf(c));
  const missing = LABEL_COLUMNS.filter((_, i) => idx[i]! < 0);
  if (missing.length)
    throw new UserError(`${file}:1: missing column ${missing.join(', ')} (header: ${header.join(',')})`);
  if (records.length === 1) throw new UserError(`${file}: no rows after the header`);
  const [fi, ai, gi] = idx as [number, number, number];
  const rows: LabelledImage[] = [];
  for (let r = 1; r < records.length; r++) {
    const rec = records[r]!;
    const line = r + 1;
    const filename = rec[fi];
    if (!filename) throw new UserError(`${file}:${line}: empty filename`);
    // Names are relative to the image folder; one that leads out of it (a crafted CSV) is never read.
    if (!confinedPath('/images', filename))
      throw new UserError(
        `${file}:${line}: filename "${filename}" is not a path inside the image folder (absolute, or climbs out with ..)`,
      );
    const ageText = rec[ai] ?? '';
    const age = parseDecimal(ageText, { int: true }) ?? NaN;
    if (!(age >= 0 && age <= 100)) {
      throw new UserError(`${file}:${line}: age "${ageText}" is not an integer in 0..100`);
    }
    const genderText = rec[gi] ?? '';
    if (genderText !== '0' && genderText !== '1') {
      throw new UserError(`${file}:${line}: gender "${genderText}" is not 0 (female) or 1 (male)`);
    }
    rows.push({ filename, age, gender: genderText === '1' ? 1 : 0 });
  }
  return rows;
}

export async function readLabelsCsv(file: string): Promise<LabelledImage[]> {
  return parseLabelsCsv(await readTextFile(file), file);
}

/** Rows as seed-schema CSV text, header included. */
export function labelsCsvText(rows: LabelledImage[]): string {
  return stringify(
    rows.map((r) => [r.filename, r.age, r.gender]),
    { header: true, columns: [...LABEL_COLUMNS] },
  );
}

/** Writes rows in the seed schema, atomically (temp file + rename). */
export async function writeLabelsCsv(file: string, rows: LabelledImage[]): Promise<void> {
  await writeFileAtomic(file, labelsCsvText(rows));
}
