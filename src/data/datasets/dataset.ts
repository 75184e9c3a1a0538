import { promises as fs } from 'node:fs';
import { UserError } from '../../util/errors.js';
// Type-only: an adapter declares its options in the schema's shape; the api layer validates them.
import type { Resolved, Schema } from '../../util/option-schema.js';
import type { LabelledSource } from '../prepare-dataset.js';

/**
 * A dataset adapter: how one dataset's labels are read. Everything after the reading (crops, duplicates,
 * split, CSVs, summary) is shared (prepare-dataset.ts), and the `preprocess <name>` command and the
 * library's `preprocess<Name>` function are generated from the adapter (src/cli/preprocess.ts,
 * src/api/preprocess.ts). A new dataset is one new file here plus a line in datasets/index.ts.
 */
export interface DatasetAdapter<S extends Schema = Schema> {
  /** The subcommand: `agegender preprocess <name>`. */
  name: string;
  /** One line for `--help`. */
  description: string;
  /** The dataset's own options (the common ones, such as outputDir and imgSize, are added by api/). */
  options: S;
  /** Reads the labels: rows to crop, the reader's counts, and what to record about the input. */
  read(opts: Resolved<S>, ctx: ReadContext): Promise<DatasetRows>;
}

/** What a reader gets besides its options. */
export interface ReadContext {
  /** The run writes only labels (no image is read): a missing photo folder is fine then. */
  labelsOnly: boolean;
  /** The run's output folder (a reader may keep a cache there, e.g. of detected faces). */
  outputDir: string;
  /** No progress output (library callers and --json). */
  quiet: boolean;
  /**
   * Frames each photo's face the way predict does (face detector + crop rule). The detector lives above
   * data/, so the caller provides it.
   */
  frameFaces: FrameFaces;
}

export interface FramingRequest {
  /** 'detector': on every photo; 'median': on `sample` photos, their median region applied to all. */
  how: 'detector' | 'median';
  sample: number;
  detector: string;
  minScore: number | undefined;
  /** Where detected faces are kept between runs. */
  cacheFile: string;
  quiet: boolean;
}

export type FrameFaces = (
  rows: LabelledSource[],
  req: FramingRequest,
) => Promise<{ rows: LabelledSource[]; counts: Record<string, number>; id: string }>;

export interface DatasetRows {
  rows: LabelledSource[];
  /** The reader's counts (rows read, dropped by each rule, ...), first in summary.json's counts. */
  counts: Record<string, number>;
  /** What to record about the input in summary.json (absolute paths, a few malformed names, ...). */
  input: Record<string, unknown>;
  /** Things the user should know that do not stop the run (printed, and kept in summary.json). */
  warnings?: string[];
  /** Input files the run must not overwrite (its output set is checked against them). */
  inputFiles?: { option: string; file: string }[];
  /** Crop settings the reader decides: a re-crop margin around face boxes, how faces were framed. */
  crop?: { margin?: number | null; framing?: string };
}

/** Declares an adapter, keeping its options' literal types (for the generated library function's type). */
export function defineDataset<const S extends Schema>(adapter: DatasetAdapter<S>): DatasetAdapter<S> {
  return adapter;
}

/**
 * The photo folder a reader needs unless the run writes labels only: a clear error at once instead of
 * every image counted missing.
 */
export async function requirePhotoDir(dir: string | undefined, labelsOnly: boolean): Promise<void> {
  if (labelsOnly) return;
  if (!dir)
    throw new UserError('a photo folder is required (or labels only, to write the CSVs without images)');
  const st = await fs.stat(dir).catch(() => null);
  if (!st?.isDirectory())
    throw new UserError(
      `${dir}: photo folder not found (pass --labels-only to write the CSVs and summary without images)`,
    );
}
