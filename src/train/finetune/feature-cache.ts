import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { evalBatches, imagePath } from '../../data/dataset-stream.js';
import { PHOTO_AUGMENT, photoAugment } from '../../data/photo-augment.js';
import type { PreprocessSpec } from '../../data/preprocess-spec.js';
import type { LabelledImage } from '../../data/labels-csv.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { UserError } from '../../util/errors.js';
import { createProgress } from '../../util/progress.js';
import { throwIfStopped } from '../fit.js';

/**
 * A frozen backbone's outputs for every image of a CSV, computed once and kept on disk, so that training
 * the layers above it needs no decoding and no pass through the expensive layers: one epoch over 20,000
 * cached maps costs seconds to minutes instead of the backbone's ~10 ms per image.
 *
 * Views per image: as is, and mirrored left-right (the input flipped before the backbone), which are the
 * flip augmentation and the test-time flip; then, for training sets, `augmentedViews` photo-like copies
 * (data/photo-augment.ts: box jitter, blur, JPEG, colour, grey), each drawn from the file name and the
 * view number, so they are the same in every run. Rows whose image cannot be read are skipped and
 * counted.
 *
 * An entry is trusted only for the same inputs: its file name is a hash of every image's bytes (with its
 * name and labels, or the fact that it is missing) and of the settings that made the numbers (backbone,
 * preprocessing, augmentation). Other images under the same names, a folder whose files came back after
 * a failed run, or a changed spec each make a new entry; an entry is complete only once its index is
 * written, last, so a run killed mid-way leaves nothing a later run reads.
 */
export const PLAIN_VIEW = 0;
export const FLIPPED_VIEW = 1;

export interface FeatureSet {
  rows: LabelledImage[];
  /** Views per row: 2 (plain, flipped) + augmented ones. */
  views: number;
  /** rows.length * views * per floats: row i, view v at ((i * views) + v) * per. */
  data: Float32Array;
  /** Floats per view. */
  per: number;
  shape: number[];
  skipped: number;
}

export interface FeatureCacheOptions {
  cacheDir: string;
  /** Identifies the backbone and its cut point (part of the cache key). */
  backboneId: string;
  imgDir: string;
  spec: PreprocessSpec;
  batchSize?: number;
  json?: boolean;
  label?: string;
  /** Photo-like augmented views per row on top of plain and flipped (training sets; default 0). */
  augmentedViews?: number;
  onSkip?: (file: string, why: string) => void;
  /** Aborting it stops the extraction between batches (StoppedError); nothing is written. */
  signal?: AbortSignal;
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
        v: 2,
        ...(augmented > 0 ? { augmented, augment: PHOTO_AUGMENT } : {}),
        backbone: opts.backboneId,
        spec: { size: opts.spec.imageSize, resize: opts.spec.resize, norm: opts.spec.normalization },
        rows: rows.map((r, i) => [r.filename, r.age, r.gender, contents[i]]),
      }),
    )
    .digest('hex')
    .slice(0, 24);
  const base = path.join(opts.cacheDir, `${opts.label ?? 'features'}-${key}`);
  const cached = await readCache(base, per, views);
  if (cached) return { ...cached, views, per, shape };

  const data = new Float32Array(rows.length * views * per);
  // Where each readable row sits; the first pass decides, augmented passes skip the same rows.
  const slot = new Map<LabelledImage, number>();
  let skipped = 0;
  const progress = createProgress({
    unit: `${opts.label ?? ''} images`.trim(),
    total: rows.length * (1 + augmented),
    json: opts.json,
  });
  const size = opts.spec.imageSize;
  const put = (out: Float32Array, i: number, row: number, view: number) =>
    data.set(out.subarray(i * per, (i + 1) * per), (row * views + view) * per);
  // Pass 0 computes the plain and flipped views; pass k > 0 the augmented view 1 + k.
  for (let pass = 0; pass <= augmented; pass++) {
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
      progress.tick(n, { skipped });
    }
  }
  progress.stop();
  const kept = [...slot.keys()];
  const set = { rows: kept, views, data: data.subarray(0, kept.length * views * per), skipped };
  await fs.mkdir(opts.cacheDir, { recursive: true });
  await writeFileAtomic(
    `${base}.f32`,
    new Uint8Array(set.data.buffer, set.data.byteOffset, set.data.byteLength),
  );
  // The index is written last: a cache without it is incomplete and ignored.
  await writeFileAtomic(`${base}.json`, JSON.stringify({ rows: kept, skipped, per, views }) + '\n');
  return { ...set, per, shape };
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

async function readCache(
  base: string,
  per: number,
  views: number,
): Promise<{ rows: LabelledImage[]; data: Float32Array; skipped: number } | null> {
  try {
    const index = JSON.parse(await fs.readFile(`${base}.json`, 'utf8')) as {
      rows: LabelledImage[];
      skipped: number;
      per: number;
      views?: number;
    };
    if (index.per !== per || (index.views ?? 2) !== views) return null;
    const data = await readFloats(`${base}.f32`, index.rows.length * views * per);
    return data ? { rows: index.rows, data, skipped: index.skipped } : null;
  } catch {
    return null;
  }
}

/**
 * Reads a file of exactly `count` float32s in chunks (fs.readFile stops at 2 GiB, and a training set
 * with augmented views is larger than that).
 */
async function readFloats(file: string, count: number): Promise<Float32Array | null> {
  const handle = await fs.open(file, 'r');
  try {
    if ((await handle.stat()).size !== count * 4) return null;
    const data = new Float32Array(count);
    const bytes = new Uint8Array(data.buffer);
    const chunk = 1 << 28;
    for (let at = 0; at < bytes.length;) {
      const { bytesRead } = await handle.read(bytes, at, Math.min(chunk, bytes.length - at), at);
      if (bytesRead === 0) return null;
      at += bytesRead;
    }
    return data;
  } finally {
    await handle.close();
  }
}
