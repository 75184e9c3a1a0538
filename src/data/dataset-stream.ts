import path from 'node:path';
import sharp from 'sharp';
import { mulberry32, shuffledRange } from '../util/random.js';
import type { PreprocessSpec } from './preprocess-spec.js';
import { UserError, reason } from '../util/errors.js';
import { loadResized, normalizeInto } from './image.js';
import type { LabelledImage } from './labels-csv.js';

/**
 * The training input pipeline: CSV rows -> decoded, resized, standardised float batches.
 *
 * Decoding runs in sharp's (libvips) native thread pool, so it proceeds while the training step holds the
 * JS thread; a queue keeps `prefetchBatches` batches of decodes in flight ahead of the consumer. Only row
 * metadata lives in memory (a few dozen bytes per image), never the pixels of more than the queue, so the
 * footprint does not grow with the dataset. The order of images and their augmentation are pure functions
 * of (seed, epoch, position), which makes a resumed run see exactly the images it would have seen.
 */

/** One batch, NHWC float32 standardised pixels plus labels. */
export interface Batch {
  x: Float32Array;
  ages: Int32Array;
  genders: Int32Array;
  size: number;
}

/** Where the training stream stands: the next row to consume is `order(epoch)[cursor]`. */
export interface StreamState {
  epoch: number;
  cursor: number;
}

export interface StreamOptions {
  imgDir: string;
  spec: PreprocessSpec;
  batchSize: number;
  /** Random horizontal flip and a small random shift (training only). */
  augment?: boolean;
  seed?: number;
  /** Batches of decoding kept in flight ahead of the consumer. */
  prefetchBatches?: number;
  /** Called once per unreadable image (missing, corrupt): it is skipped, never fatal. */
  onSkip?: (file: string, why: string) => void;
  /**
   * Applied to each decoded image (HWC uint8 of imageSize) before normalisation, e.g. photoAugment. `seed`
   * comes from (seed, epoch, position), so random draws made from it repeat in a resumed run, whatever
   * order the parallel decodes finish in.
   */
  transform?: (pixels: Uint8Array, row: LabelledImage, seed: number) => Promise<Uint8Array>;
}

// Decoding many small images in parallel beats one image on many threads; no cache keeps memory flat.
sharp.concurrency(1);
sharp.cache(false);

function hash3(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f) ^ Math.imul(c + 0x165667b1, 0x9e3779b1);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The shuffled row order of one epoch (Fisher-Yates), reproducible from (seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  return shuffledRange(n, mulberry32(hash3(seed, epoch, 0x5eed)));
}

/** Shifts an HWC image by (dx, dy) pixels, repeating the edge pixels into the uncovered border. */
export function shiftImage(src: Uint8Array, size: number, dx: number, dy: number): Uint8Array {
  if (dx === 0 && dy === 0) return src;
  const out = new Uint8Array(src.length);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(size - 1, Math.max(0, y - dy));
    for (let x = 0; x < size; x++) {
      const sx = Math.min(size - 1, Math.max(0, x - dx));
      const s = (sy * size + sx) * 3;
      const d = (y * size + x) * 3;
      out[d] = src[s]!;
      out[d + 1] = src[s + 1]!;
      out[d + 2] = src[s + 2]!;
    }
  }
  return out;
}

type Loaded = Uint8Array | null;

/**
 * Resolves a CSV filename against the image directory. CSV names are confined to it when read
 * (labels-csv.ts); an absolute name is one a caller already resolved (fine-tune.ts merging sets) and is kept.
 */
export function imagePath(imgDir: string, filename: string): string {
  return path.isAbsolute(filename) ? filename : path.join(imgDir, filename);
}

/** Shared by the training and evaluation streams: decode one row, reporting (not throwing) failures. */
class Decoder {
  readonly badFiles = new Set<string>();
  constructor(private readonly opts: StreamOptions) {}

  load(row: LabelledImage, seed = 0): Promise<Loaded> {
    const file = imagePath(this.opts.imgDir, row.filename);
    const transform = this.opts.transform;
    return loadResized(file, this.opts.spec)
      .then((px) => (transform ? transform(px, row, seed) : px))
      .then(
        (px) => px,
        (err) => {
          if (!this.badFiles.has(file)) {
            this.badFiles.add(file);
            this.opts.onSkip?.(file, reason(err));
          }
          return null;
        },
      );
  }
}

interface Pending {
  epoch: number;
  cursor: number;
  row: LabelledImage;
  pixels: Promise<Loaded>;
}

/** An endless stream of full training batches, reshuffled every epoch. */
export class TrainStream {
  private readonly decoder: Decoder;
  private readonly queue: Pending[] = [];
  private loadEpoch: number;
  private loadCursor: number;
  private order: Uint32Array;
  private readonly seed: number;
  private readonly size: number;
  /** Valid images seen since the current epoch began, to fail if an epoch has none at all. */
  private validThisEpoch = 0;

  constructor(
    private readonly rows: LabelledImage[],
    private readonly opts: StreamOptions,
    start: StreamState = { epoch: 0, cursor: 0 },
  ) {
    if (rows.length === 0) throw new UserError('training CSV has no rows');
    this.decoder = new Decoder(opts);
    this.seed = opts.seed ?? 0;
    this.size = opts.spec.imageSize;
    this.loadEpoch = start.epoch;
    this.loadCursor = start.cursor;
    this.order = epochOrder(rows.length, this.seed, this.loadEpoch);
    this.fill();
  }

  /** Unreadable images met so far (each counted once). */
  get skipped(): number {
    return this.decoder.badFiles.size;
  }

  /** Position of the next image the consumer will take: save it to resume in the same order. */
  get state(): StreamState {
    const head = this.queue[0];
    return head
      ? { epoch: head.epoch, cursor: head.cursor }
      : { epoch: this.loadEpoch, cursor: this.loadCursor };
  }

  private fill(): void {
    const want = (this.opts.prefetchBatches ?? 4) * this.opts.batchSize;
    while (this.queue.length < want) {
      if (this.loadCursor >= this.rows.length) {
        this.loadEpoch++;
        this.loadCursor = 0;
        this.order = epochOrder(this.rows.length, this.seed, this.loadEpoch);
      }
      const row = this.rows[this.order[this.loadCursor]!]!;
      this.queue.push({
        epoch: this.loadEpoch,
        cursor: this.loadCursor,
        row,
        pixels: this.decoder.load(row, hash3(this.seed, this.loadEpoch, this.loadCursor) ^ 0x7a5f),
      });
      this.loadCursor++;
    }
  }

  async next(): Promise<Batch> {
    const { batchSize } = this.opts;
    const px = this.size * this.size * 3;
    const batch: Batch = {
      x: new Float32Array(batchSize * px),
      ages: new Int32Array(batchSize),
      genders: new Int32Array(batchSize),
      size: batchSize,
    };
    let n = 0;
    let lastEpoch = this.state.epoch;
    while (n < batchSize) {
      const item = this.queue.shift()!;
      this.fill();
      if (item.epoch !== lastEpoch) {
        if (this.validThisEpoch === 0) {
          throw new UserError(
            `none of the ${this.rows.length} training images could be read (see skipped files)`,
          );
        }
        this.validThisEpoch = 0;
        lastEpoch = item.epoch;
      }
      const pixels = await item.pixels;
      if (!pixels) continue;
      this.validThisEpoch++;
      let img = pixels;
      let flip = false;
      if (this.opts.augment) {
        const rand = mulberry32(hash3(this.seed, item.epoch, item.cursor));
        flip = rand() < 0.5;
        const maxShift = Math.round(this.size / 16);
        const dx = Math.floor(rand() * (2 * maxShift + 1)) - maxShift;
        const dy = Math.floor(rand() * (2 * maxShift + 1)) - maxShift;
        img = shiftImage(pixels, this.size, dx, dy);
      }
      normalizeInto(img, this.opts.spec.normalization, this.size, batch.x, n * px, flip);
      batch.ages[n] = item.row.age;
      batch.genders[n] = item.row.gender;
      n++;
    }
    return batch;
  }
}

/**
 * One pass over `rows` in file order, in batches (the last one may be short), unreadable images
 * skipped. Used for validation and `evaluate`: every readable row is scored exactly once.
 */
export async function* evalBatches(
  rows: LabelledImage[],
  opts: StreamOptions,
): AsyncGenerator<Batch & { rows: LabelledImage[] }, { skipped: number }> {
  const decoder = new Decoder(opts);
  const size = opts.spec.imageSize;
  const px = size * size * 3;
  const ahead = (opts.prefetchBatches ?? 4) * opts.batchSize;
  const pending: Promise<Loaded>[] = [];
  let next = 0;
  const fill = () => {
    while (pending.length < ahead && next < rows.length) pending.push(decoder.load(rows[next++]!));
  };
  fill();
  let consumed = 0;
  while (consumed < rows.length) {
    const x = new Float32Array(opts.batchSize * px);
    const ages = new Int32Array(opts.batchSize);
    const genders = new Int32Array(opts.batchSize);
    const used: LabelledImage[] = [];
    while (used.length < opts.batchSize && consumed < rows.length) {
      const pixels = await pending.shift()!;
      const row = rows[consumed++]!;
      fill();
      if (!pixels) continue;
      normalizeInto(pixels, opts.spec.normalization, size, x, used.length * px, false);
      ages[used.length] = row.age;
      genders[used.length] = row.gender;
      used.push(row);
    }
    const n = used.length;
    if (n === 0) break;
    yield {
      x: x.subarray(0, n * px),
      ages: ages.subarray(0, n),
      genders: genders.subarray(0, n),
      size: n,
      rows: used,
    };
  }
  return { skipped: decoder.badFiles.size };
}
