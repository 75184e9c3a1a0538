import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { evalBatches, imagePath } from '../../data/dataset-stream.js';
import { PHOTO_AUGMENT, photoAugment } from '../../data/photo-augment.js';
import type { PreprocessSpec } from '../../data/preprocess-spec.js';
import type { LabelledImage } from '../../data/labels-csv.js';
import { toFloat16 } from '../../engine/float16.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { UserError } from '../../util/errors.js';
import { createProgress } from '../../util/progress.js';
import { throwIfStopped } from '../fit.js';

/**
 * The heads' input features (a frozen backbone's pooled outputs and feature taps) for every image of a
 * CSV, computed once and kept on disk, so that training the heads needs no decoding and no pass through
 * the backbone: one epoch over 20,000 cached rows costs seconds instead of the backbone's ~10 ms per
 * image. Stored as float16 (dlib's 'fine' features: 2,304 values, 4.5 KB a view; rounding moves a feature
 * by under 1 part in 2,000, far under what training noise moves the heads).
 *
 * Views per image: as is, and mirrored left-right (the input flipped before the backbone), which are the
 * flip augmentation and the test-time flip; then, for training sets, `augmentedViews` photo-like copies
 * (data/photo-augment.ts: box jitter, blur, JPEG, colour, grey), each drawn from the file name and the
 * view number, so they are the same in every run. Rows whose image cannot be read are skipped and
 * counted.
 *
 * An entry is trusted only for the same inputs: its folder name is a hash of every image's bytes (with
 * its name and labels, or the fact that it is missing) and of the settings that made the numbers
 * (backbone and features, preprocessing, augmentation). Other images under the same names, a folder whose
 * files came back after a failed run, or a changed spec each make a new entry. The rows are extracted in
 * blocks, each written atomically (its features, then its index), so a stopped or killed extraction
 * resumes at the first unfinished block, and a block without its index is never read.
 */
export const PLAIN_VIEW = 0;
export const FLIPPED_VIEW = 1;

/** Rows per block of the cache: what a stopped extraction loses at most. */
const BLOCK_ROWS = 1024;

export interface FeatureSet {
  /** The readable rows, block after block. */
  rows: LabelledImage[];
  /** Views per row: 2 (plain, flipped) + augmented ones. */
  views: number;
  /** Features per view. */
  per: number;
  shape: number[];
  skipped: number;
  /** The rows' features, read from disk block by block, so a set of any size streams in flat memory. */
  blocks: FeatureBlock[];
}

/** Rows [start, start + count) of a set: `load` reads their features (row i, view v at (i * views + v) * per). */
export interface FeatureBlock {
  start: number;
  count: number;
  load: () => Promise<Uint16Array>;
}

export interface FeatureCacheOptions {
  cacheDir: string;
  /** Identifies the backbone, its cut point and taps (part of the cache key). */
  backboneId: string;
  imgDir: string;
  spec: PreprocessSpec;
  batchSize?: number;
  json?: boolean;
  label?: string;
  /** Photo-like augmented views per row on top of plain and flipped (training sets; default 0). */
  augmentedViews?: number;
  onSkip?: (file: string, why: string) => void;
  /** Aborting it stops the extraction between batches (StoppedError); finished blocks are kept. */
  signal?: AbortSignal;
  /** Rows per block (default BLOCK_ROWS; tests use small ones). */
  blockRows?: number;
}

/** One finished block as its index says: the readable rows and the skipped count. */
interface Block {
  rows: LabelledImage[];
  skipped: number;
}

export async function cachedFeatures(
  extractor: tf.LayersModel,
  rows: LabelledImage[],
  opts: FeatureCacheOptions,
): Promise<FeatureSet> {
  const shape = extractor.outputs[0]!.shape.slice(1) as number[];
  const per = shape.reduce((a, b) => a * b, 1);
  const augmented = opts.augmentedViews ?? 0;
  const views = 2 + augmented;
  const contents = await contentHashes(rows, opts.imgDir);
  if (rows.length > 0 && contents.every((h) => h === MISSING))
    throw new UserError(
      `${opts.imgDir}: none of the ${rows.length} images of ${opts.label ?? 'the set'} exist there ` +
        `(first: ${rows[0]!.filename})`,
    );
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: 3,
        ...(augmented > 0 ? { augmented, augment: PHOTO_AUGMENT } : {}),
        backbone: opts.backboneId,
        spec: { size: opts.spec.imageSize, resize: opts.spec.resize, norm: opts.spec.normalization },
        rows: rows.map((r, i) => [r.filename, r.age, r.gender, contents[i]]),
      }),
    )
    .digest('hex')
    .slice(0, 24);
  const dir = path.join(opts.cacheDir, `${opts.label ?? 'features'}-${key}`);
  const size = opts.blockRows ?? BLOCK_ROWS;
  const blocks: (Block | null)[] = [];
  for (let b = 0; b * size < rows.length; b++) blocks.push(await readBlock(dir, b, per, views));
  const todo = blocks.reduce((n, blk, b) => n + (blk ? 0 : Math.min(size, rows.length - b * size)), 0);
  if (todo > 0) {
    const progress = createProgress({
      unit: `${opts.label ?? ''} images`.trim(),
      total: todo * (1 + augmented),
      json: opts.json,
    });
    try {
      for (const [b, blk] of blocks.entries()) {
        if (blk) continue;
        const block = await extractBlock(
          extractor,
          rows.slice(b * size, (b + 1) * size),
          per,
          views,
          opts,
          (n) => progress.tick(n),
        );
        await fs.mkdir(dir, { recursive: true });
        const name = path.join(dir, blockName(b));
        await writeFileAtomic(`${name}.f16`, new Uint8Array(block.bits.buffer));
        // The block's index is written last: a block without it is incomplete and never read.
        const index = { rows: block.rows, skipped: block.skipped, per, views };
        await writeFileAtomic(`${name}.json`, JSON.stringify(index) + '\n');
        blocks[b] = { rows: block.rows, skipped: block.skipped };
      }
    } finally {
      progress.stop();
    }
  }
  const done = blocks as Block[];
  let start = 0;
  const stored = done.map((blk, b) => {
    const file = path.join(dir, `${blockName(b)}.f16`);
    const entry = { start, count: blk.rows.length, load: () => readBits(file) };
    start += blk.rows.length;
    return entry;
  });
  const skipped = done.reduce((n, blk) => n + blk.skipped, 0);
  return { rows: done.flatMap((blk) => blk.rows), views, per, shape, skipped, blocks: stored };
}

/** A block's features file as float16 bits (read whole: a block is what training holds at a time). */
export async function readBits(file: string): Promise<Uint16Array> {
  const bytes = await fs.readFile(file);
  // A file read this size has a memory of its own: viewed in place, unless it is oddly aligned.
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
  const bits = new Uint16Array(bytes.length / 2);
  new Uint8Array(bits.buffer).set(bytes);
  return bits;
}

/** The features of one block's rows, every view. Pass 0 makes the plain and flipped views, pass k view 1 + k. */
async function extractBlock(
  extractor: tf.LayersModel,
  rows: LabelledImage[],
  per: number,
  views: number,
  opts: FeatureCacheOptions,
  tick: (n: number) => void,
): Promise<Block & { bits: Uint16Array }> {
  const data = new Float32Array(rows.length * views * per);
  // Where each readable row sits; the first pass decides, augmented passes skip the same rows.
  const slot = new Map<LabelledImage, number>();
  let skipped = 0;
  const size = opts.spec.imageSize;
  const put = (out: Float32Array, i: number, row: number, view: number) =>
    data.set(out.subarray(i * per, (i + 1) * per), (row * views + view) * per);
  for (let pass = 0; pass < views - 1; pass++) {
    const gen = evalBatches(rows, {
      imgDir: opts.imgDir,
      spec: opts.spec,
      batchSize: opts.batchSize ?? 32,
      onSkip: (file, why) => {
        if (pass > 0) return;
        skipped++;
        opts.onSkip?.(file, why);
      },
      ...(pass > 0
        ? { transform: (px, row) => photoAugment(px, size, augmentSeed(row.filename, pass)) }
        : {}),
    });
    for await (const batch of gen) {
      throwIfStopped(opts.signal, 'feature extraction');
      const n = batch.rows.length;
      const outs = tf.tidy(() => {
        const x = tf.tensor4d(batch.x.subarray(0, n * size * size * 3), [n, size, size, 3]);
        const plain = extractor.predict(x) as tf.Tensor;
        return pass === 0 ? [plain, extractor.predict(tf.reverse(x, 2)) as tf.Tensor] : [plain];
      });
      const values = (await Promise.all(outs.map((t) => t.data()))) as Float32Array[];
      tf.dispose(outs);
      batch.rows.forEach((row, i) => {
        if (pass === 0) slot.set(row, slot.size);
        const at = slot.get(row);
        if (at === undefined) return; // unreadable in pass 0, readable now: leave it out
        if (pass === 0) {
          put(values[0]!, i, at, PLAIN_VIEW);
          put(values[1]!, i, at, FLIPPED_VIEW);
        } else put(values[0]!, i, at, 1 + pass);
      });
      tick(n);
    }
  }
  const kept = [...slot.keys()];
  return { rows: kept, bits: toFloat16(data.subarray(0, kept.length * views * per)), skipped };
}

const blockName = (b: number) => `block-${String(b).padStart(5, '0')}`;

/** A finished block of an entry (its index, with a features file of the right size), or null. */
async function readBlock(dir: string, b: number, per: number, views: number): Promise<Block | null> {
  const name = path.join(dir, blockName(b));
  try {
    const index = JSON.parse(await fs.readFile(`${name}.json`, 'utf8')) as Block & {
      per: number;
      views: number;
    };
    if (index.per !== per || index.views !== views) return null;
    const { size } = await fs.stat(`${name}.f16`);
    return size === index.rows.length * views * per * 2 ? { rows: index.rows, skipped: index.skipped } : null;
  } catch {
    return null;
  }
}
const MISSING = 'missing';

/**
 * A hash of each row's image bytes (sha256, 16 hex digits), or MISSING (absent, unreadable, or not a
 * regular file). Reading every file costs about
 * a second per 10,000 crops, against the backbone's ~10 ms per image it can save.
 */
async function contentHashes(rows: LabelledImage[], imgDir: string): Promise<string[]> {
  const out = new Array<string>(rows.length);
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const i = next++;
      const file = imagePath(imgDir, rows[i]!.filename);
      // Only regular files are read: a FIFO named like a crop would block the read forever.
      const regular = (await fs.stat(file).catch(() => null))?.isFile();
      const bytes = regular ? await fs.readFile(file).catch(() => null) : null;
      out[i] = bytes ? createHash('sha256').update(bytes).digest('hex').slice(0, 16) : MISSING;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return out;
}

/** The seed of augmented view `pass` of one file: a hash of its name, so it is the same in every run. */
function augmentSeed(filename: string, pass: number): number {
  return createHash('sha256').update(`${pass}:${filename}`).digest().readUInt32LE(0);
}
