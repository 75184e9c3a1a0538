import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { evalBatches } from '../data/dataset-stream.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import type { LabelledImage } from '../data/seed-csv.js';
import { writeFileAtomic } from '../util/atomic.js';
import { createProgress } from '../util/progress.js';

/**
 * A frozen backbone's outputs for every image of a CSV, computed once and kept on disk, so that training
 * the layers above it needs no decoding and no pass through the expensive layers: one epoch over 20,000
 * cached maps costs seconds to minutes instead of the backbone's ~10 ms per image.
 *
 * Two views per image: as is, and mirrored left-right (the input flipped before the backbone), which is
 * the training augmentation and the test-time flip. Rows whose image cannot be read are skipped and
 * counted. The file name is a hash of everything the numbers depend on (backbone id, rows, image folder,
 * preprocessing), so a changed CSV or spec never reads stale features.
 */
export const VIEWS = 2;

export interface FeatureSet {
  rows: LabelledImage[];
  /** rows.length * VIEWS * per floats: row i, view v at ((i * VIEWS) + v) * per. */
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
  onSkip?: (file: string, why: string) => void;
}

export async function cachedFeatures(
  extractor: tf.LayersModel,
  rows: LabelledImage[],
  opts: FeatureCacheOptions,
): Promise<FeatureSet> {
  const shape = extractor.outputs[0]!.shape.slice(1) as number[];
  const per = shape.reduce((a, b) => a * b, 1);
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: 1,
        backbone: opts.backboneId,
        imgDir: path.resolve(opts.imgDir),
        spec: { size: opts.spec.imageSize, resize: opts.spec.resize, norm: opts.spec.normalization },
        rows: rows.map((r) => [r.filename, r.age, r.gender]),
      }),
    )
    .digest('hex')
    .slice(0, 24);
  const base = path.join(opts.cacheDir, `${opts.label ?? 'features'}-${key}`);
  const cached = await readCache(base, per);
  if (cached) return { ...cached, per, shape };

  const data = new Float32Array(rows.length * VIEWS * per);
  const kept: LabelledImage[] = [];
  let skipped = 0;
  const progress = createProgress({
    unit: `${opts.label ?? ''} images`.trim(),
    total: rows.length,
    json: opts.json,
  });
  const size = opts.spec.imageSize;
  const gen = evalBatches(rows, {
    imgDir: opts.imgDir,
    spec: opts.spec,
    batchSize: opts.batchSize ?? 32,
    onSkip: (file, why) => {
      skipped++;
      opts.onSkip?.(file, why);
    },
  });
  for await (const batch of gen) {
    const n = batch.rows.length;
    const views = tf.tidy(() => {
      const x = tf.tensor4d(batch.x.subarray(0, n * size * size * 3), [n, size, size, 3]);
      return [extractor.predict(x) as tf.Tensor, extractor.predict(tf.reverse(x, 2)) as tf.Tensor];
    });
    const [plain, flipped] = (await Promise.all(views.map((t) => t.data()))) as Float32Array[];
    tf.dispose(views);
    for (let i = 0; i < n; i++) {
      const at = (kept.length + i) * VIEWS * per;
      data.set(plain!.subarray(i * per, (i + 1) * per), at);
      data.set(flipped!.subarray(i * per, (i + 1) * per), at + per);
    }
    kept.push(...batch.rows);
    progress.tick(n, { skipped });
  }
  progress.stop();
  const set = { rows: kept, data: data.subarray(0, kept.length * VIEWS * per), skipped };
  await fs.mkdir(opts.cacheDir, { recursive: true });
  await writeFileAtomic(
    `${base}.f32`,
    new Uint8Array(set.data.buffer, set.data.byteOffset, set.data.byteLength),
  );
  // The index is written last: a cache without it is incomplete and ignored.
  await writeFileAtomic(`${base}.json`, JSON.stringify({ rows: kept, skipped, per }) + '\n');
  return { ...set, per, shape };
}

async function readCache(
  base: string,
  per: number,
): Promise<{ rows: LabelledImage[]; data: Float32Array; skipped: number } | null> {
  try {
    const index = JSON.parse(await fs.readFile(`${base}.json`, 'utf8')) as {
      rows: LabelledImage[];
      skipped: number;
      per: number;
    };
    const buf = await fs.readFile(`${base}.f32`);
    if (index.per !== per || buf.byteLength !== index.rows.length * VIEWS * per * 4) return null;
    const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    return { rows: index.rows, data, skipped: index.skipped };
  } catch {
    return null;
  }
}
