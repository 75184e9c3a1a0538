import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { tempPathFor, writeFileAtomic } from '../util/atomic.js';
import { FileReadError, UserError, reason } from '../util/errors.js';
import { readRegularFile } from '../util/regular-file.js';
import { cropSquare, decodeRgb, type SquareRegion } from './image.js';
import { confinedPath } from '../util/confine.js';
import { HASH_WORDS, pixelHash, type ImageHash } from './duplicates.js';

/** How crops are made; stored beside them so a re-run with other settings never trusts stale crops. */
export interface CropSettings {
  /** Output side in pixels (square). */
  imgSize: number;
  /** JPEG quality of the written crops. */
  quality: number;
  /**
   * null: use the whole source image. A number M: re-crop from the face box first, grown by M times the
   * box width / height on each side (clipped to the image).
   */
  margin: number | null;
  /**
   * How `region` crops were framed (e.g. the detector and crop rule), recorded so that a re-run with
   * another rule re-crops instead of reusing stale crops. Absent for whole-image and margin crops.
   */
  framing?: string;
}

/** One image to crop: `source` is read, `target` (relative to the crop folder) is written. */
export interface CropJob {
  source: string;
  target: string;
  /** Face box [x1, y1, x2, y2] in MATLAB's 1-based pixel coordinates (IMDB-WIKI face_location). */
  box?: readonly number[];
  /**
   * A square region in 0-based pixels of the EXIF-rotated image (may reach outside it: filled black),
   * e.g. a detected face framed by predict's crop rule. Takes precedence over `box`.
   */
  region?: SquareRegion;
}

/** A crop made or kept, with the duplicate hash of its pixels (null when it could not be taken). */
export type CropOutcome =
  | { status: 'written' | 'existing'; hash: ImageHash | null }
  | { status: 'missing' | 'unreadable'; reason: string };

const SETTINGS_FILE = '.crop-settings.json';
/**
 * One line per crop made, appended once the crop is in place: `{"t": target, "k": source key, "h": hash}`.
 * The source key is the SHA-256 of the source file's bytes plus the job's face box or region, so a crop
 * is reused only when the very same photo and framing made it (a different photo under the same name is
 * re-cropped). A crop without a line (a kill between the rename and the append) is simply redone.
 */
const LOG_FILE = '.crops.jsonl';

/** The crops of a folder that may be reused: target -> the source key and hash that made it. */
export type CropLog = Map<string, { k: string; h: string }>;

/**
 * Prepares the crop folder for a (re)run and returns the crops already there with what made them.
 * A crop is only ever renamed into place once fully written, so one that exists is complete; left-over
 * temp files of a killed run are removed. If the folder was made with other settings, it is emptied
 * first (its crops would be the wrong size), and the settings file is written before any crop so that
 * a kill mid-way never mixes the two.
 */
export async function prepareCropDir(cropDir: string, settings: CropSettings): Promise<CropLog> {
  const wanted = JSON.stringify({ version: 1, fit: 'cover', kernel: 'lanczos3', ...settings });
  let previous: string | null = null;
  try {
    previous = await fs.readFile(path.join(cropDir, SETTINGS_FILE), 'utf8');
  } catch {
    /* first run */
  }
  if (previous !== wanted) {
    if (previous === null) {
      // Never wipe a folder this tool did not make (say, photos someone keeps in <output-dir>/crop).
      const found = await fs.readdir(cropDir).catch(() => [] as string[]);
      if (found.length > 0)
        throw new UserError(
          `${cropDir}: exists and was not made by agegender preprocess; choose another --output-dir or remove it`,
        );
    }
    await fs.rm(cropDir, { recursive: true, force: true });
    await fs.mkdir(cropDir, { recursive: true });
    await writeFileAtomic(path.join(cropDir, SETTINGS_FILE), wanted);
    return new Map();
  }
  const existing = new Set<string>();
  const entries = await fs.readdir(cropDir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    // `parentPath` is node >= 20.12; `path` is the older name of the same field.
    const dir = (e as { parentPath?: string }).parentPath ?? (e as unknown as { path: string }).path;
    const full = path.join(dir, e.name);
    if (e.name.startsWith('.') && e.name.endsWith('.tmp')) await fs.rm(full, { force: true });
    else if (e.name !== SETTINGS_FILE && e.name !== LOG_FILE)
      existing.add(path.relative(cropDir, full).split(path.sep).join('/'));
  }
  // The last line of a crop wins (it was redone); lines of crops no longer there, or cut short by a kill,
  // are dropped, and the log is rewritten compact.
  const log: CropLog = new Map();
  const text = await fs.readFile(path.join(cropDir, LOG_FILE), 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    try {
      const e = JSON.parse(line) as { t: string; k: string; h: string };
      if (existing.has(e.t)) log.set(e.t, { k: e.k, h: e.h });
    } catch {
      /* a torn last line */
    }
  }
  const lines = [...log].map(([t, e]) => JSON.stringify({ t, ...e }) + '\n');
  await writeFileAtomic(path.join(cropDir, LOG_FILE), lines.join(''));
  return log;
}

/** The pixel rectangle to extract for a face box grown by `margin`, or null if it misses the image. */
export function marginRect(
  box: readonly number[],
  margin: number,
  width: number,
  height: number,
): { left: number; top: number; width: number; height: number } | null {
  const [x1, y1, x2, y2] = box as [number, number, number, number];
  if (![x1, y1, x2, y2].every(Number.isFinite) || x2 <= x1 || y2 <= y1) return null;
  const w = x2 - x1;
  const h = y2 - y1;
  // MATLAB pixel k covers [k-1, k) in 0-based coordinates.
  const left = Math.max(0, Math.floor(x1 - 1 - margin * w));
  const top = Math.max(0, Math.floor(y1 - 1 - margin * h));
  const right = Math.min(width, Math.ceil(x2 + margin * w));
  const bottom = Math.min(height, Math.ceil(y2 + margin * h));
  if (right - left < 1 || bottom - top < 1) return null;
  return { left, top, width: right - left, height: bottom - top };
}

/** What made a crop: the source's bytes and the job's framing (the folder's settings are checked apart). */
function sourceKey(input: Buffer, job: CropJob): string {
  const h = createHash('sha256').update(input);
  if (job.box) h.update(`box ${JSON.stringify(job.box)}`);
  if (job.region) h.update(`region ${JSON.stringify(job.region)}`);
  return h.digest('base64url');
}

/** The crop's pixels (imgSize squared, HWC RGB), from one decode of the source. */
async function cropPixels(input: Buffer, job: CropJob, settings: CropSettings): Promise<Uint8Array | string> {
  const size = settings.imgSize;
  if (job.region) return cropSquare(await decodeRgb(input), job.region, size);
  let img = sharp(input, { failOn: 'error' });
  if (settings.margin !== null && job.box) {
    // face_location is in the stored pixel grid (MATLAB's imread ignores EXIF), so no auto-rotation here.
    const meta = await img.metadata();
    const rect = marginRect(job.box, settings.margin, meta.width ?? 0, meta.height ?? 0);
    if (!rect) return 'face box lies outside the image';
    img = img.extract(rect);
  } else {
    img = img.rotate();
  }
  // JPEG sources are shrunk while decoding (libvips' shrink-on-load) when the crop is much smaller.
  const data = await img
    .removeAlpha()
    .toColourspace('srgb')
    .resize(size, size, { fit: 'cover', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/**
 * Crops one job unless the crop there was made from the same source bytes and framing. The source is
 * decoded once: its pixels are both encoded as the crop and hashed for duplicate detection.
 */
async function cropOne(
  cropDir: string,
  job: CropJob,
  settings: CropSettings,
  log: CropLog,
  append: (line: string) => Promise<void>,
): Promise<CropOutcome> {
  let input: Buffer;
  try {
    input = await readRegularFile(job.source);
  } catch (err) {
    if (err instanceof FileReadError)
      return { status: err.code === 'ENOENT' ? 'missing' : 'unreadable', reason: err.why };
    return { status: 'unreadable', reason: reason(err) };
  }
  const key = sourceKey(input, job);
  const made = log.get(job.target);
  if (made?.k === key) return { status: 'existing', hash: parseHash(made.h) };
  // Adapters confine their paths already; this keeps any future one from writing outside crop/.
  const target = confinedPath(cropDir, job.target);
  if (!target) return { status: 'unreadable', reason: `${job.target}: crop name leads out of ${cropDir}` };
  const tmp = tempPathFor(target);
  try {
    const pixels = await cropPixels(input, job, settings);
    if (typeof pixels === 'string') return { status: 'unreadable', reason: pixels };
    const size = settings.imgSize;
    await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
      .jpeg({ quality: settings.quality })
      .toFile(tmp);
    const hash = pixelHash(pixels, size, size);
    await fs.rename(tmp, target);
    const h = formatHash(hash);
    log.set(job.target, { k: key, h });
    await append(JSON.stringify({ t: job.target, k: key, h }) + '\n');
    return { status: 'written', hash };
  } catch (err) {
    await fs.rm(tmp, { force: true });
    return { status: 'unreadable', reason: reason(err) };
  }
}

function formatHash(h: ImageHash): string {
  return Array.from(h, (w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
}

function parseHash(text: string): ImageHash | null {
  if (!/^[0-9a-f]{64}$/.test(text)) return null;
  return Int32Array.from({ length: HASH_WORDS }, (_, i) => parseInt(text.slice(i * 8, i * 8 + 8), 16) | 0);
}

/**
 * Crops every job with sharp: `concurrency` images in flight at once (each a libvips pipeline on the libuv
 * thread pool), so all cores work while memory stays bounded by the number in flight. A crop that `log`
 * says was made from the same source and framing is kept. A bad image is reported through `onResult`,
 * never thrown.
 */
export async function writeCrops(
  cropDir: string,
  jobs: readonly CropJob[],
  settings: CropSettings,
  log: CropLog,
  onResult: (job: CropJob, outcome: CropOutcome) => void,
  concurrency = defaultConcurrency(),
): Promise<void> {
  useAllCores();
  const made = new Set<string>();
  const ensureDir = async (dir: string) => {
    if (made.has(dir)) return;
    await fs.mkdir(dir, { recursive: true });
    made.add(dir);
  };
  // O_APPEND: each line lands whole at the end, whichever worker writes it.
  const logFile = await fs.open(path.join(cropDir, LOG_FILE), 'a');
  const append = async (line: string) => void (await logFile.write(line));
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const target = confinedPath(cropDir, job.target);
      if (target) await ensureDir(path.dirname(target));
      onResult(job, await cropOne(cropDir, job, settings, log, append));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, worker));
  } finally {
    await logFile.close();
  }
}

/**
 * With more cores than libuv pool threads, pipelines alone cannot fill the machine: let each pipeline use
 * several libvips threads too (sharp defaults to 1 on glibc without jemalloc, to limit fragmentation).
 */
function useAllCores(): void {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const cores = os.availableParallelism();
  if (cores > pool && sharp.concurrency() < Math.ceil(cores / pool))
    sharp.concurrency(Math.ceil(cores / pool));
}

/**
 * sharp runs each pipeline on the libuv pool (4 threads unless UV_THREADPOOL_SIZE says more); a couple of
 * extra jobs in flight keep the cores busy while others wait on file reads.
 */
export function defaultConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(2, Math.min(os.availableParallelism() + 2, pool + 2));
}
