import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { tempPathFor, writeFileAtomic } from '../../util/atomic.js';
import { FileReadError, UserError, reason } from '../../util/errors.js';
import { readRegularFile } from '../../util/regular-file.js';
import { cropSquare, decodeRgb } from '../image.js';
import { confinedPath } from '../../util/confine.js';
import { HASH_WORDS, pixelHash, type ImageHash } from '../duplicates.js';
import { marginRect, type CropJob, type CropSettings } from './job.js';
import { startCropPool } from './pool.js';
import { cropJob, sourceKey, type WorkerJob, type WorkerResult } from './worker.js';
import { turboJpeg } from '../jpeg-turbo.js';

export { marginRect, type CropJob, type CropSettings } from './job.js';

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
 * decoded once: its pixels are both encoded as the crop and hashed for duplicate detection. `read` is
 * the source already read and keyed (by a crop thread that left the job to sharp).
 */
async function cropOne(
  cropDir: string,
  job: CropJob,
  settings: CropSettings,
  log: CropLog,
  append: (line: string) => Promise<void>,
  read?: { input: Uint8Array; key: string },
): Promise<CropOutcome> {
  let input: Uint8Array;
  try {
    input = read?.input ?? (await readRegularFile(job.source));
  } catch (err) {
    if (err instanceof FileReadError)
      return { status: err.code === 'ENOENT' ? 'missing' : 'unreadable', reason: err.why };
    return { status: 'unreadable', reason: reason(err) };
  }
  const key = read?.key ?? sourceKey(input, job);
  const made = log.get(job.target);
  if (made?.k === key) return { status: 'existing', hash: parseHash(made.h) };
  // Adapters confine their paths already; this keeps any future one from writing outside crop/.
  const target = confinedPath(cropDir, job.target);
  if (!target) return { status: 'unreadable', reason: `${job.target}: crop name leads out of ${cropDir}` };
  const tmp = tempPathFor(target);
  try {
    const pixels = await cropPixels(Buffer.from(input.buffer, input.byteOffset, input.length), job, settings);
    if (typeof pixels === 'string') return { status: 'unreadable', reason: pixels };
    const size = settings.imgSize;
    await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
      .jpeg({ quality: settings.quality })
      .toFile(tmp);
    const hash = pixelHash(pixels, size, size);
    await fs.rename(tmp, target);
    await append(logLine(log, job.target, key, hash));
    return { status: 'written', hash };
  } catch (err) {
    await fs.rm(tmp, { force: true });
    return { status: 'unreadable', reason: reason(err) };
  }
}

/** Records a crop made in `log` and returns its line for the log file. */
function logLine(log: CropLog, target: string, k: string, hash: ImageHash): string {
  const h = formatHash(hash);
  log.set(target, { k, h });
  return JSON.stringify({ t: target, k, h }) + '\n';
}

function formatHash(h: ImageHash): string {
  return Array.from(h, (w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
}

function parseHash(text: string): ImageHash | null {
  if (!/^[0-9a-f]{64}$/.test(text)) return null;
  return Int32Array.from({ length: HASH_WORDS }, (_, i) => parseInt(text.slice(i * 8, i * 8 + 8), 16) | 0);
}

/**
 * Crops every job: on the fast path (fast-path.ts: libturbojpeg, in this thread and a worker thread per
 * further core, at most `concurrency` threads) where it applies, else with sharp, `concurrency` images in
 * flight at once (each a libvips pipeline on the libuv thread pool). A crop that `log` says was made from
 * the same source and framing is kept. A bad image is reported through `onResult`, never thrown.
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
  // Jobs for sharp: all of them, or those the crop threads leave to it (with their bytes read and keyed).
  const queue: { job: CropJob; read?: { input: Uint8Array; key: string } }[] = [];
  let fed = true; // false while crop threads may still add to the queue
  const waiting: (() => void)[] = [];
  const wake = () => waiting.splice(0).forEach((resume) => resume());
  const sharpWorker = async () => {
    for (;;) {
      const item = queue.shift();
      if (!item) {
        if (fed) return;
        await new Promise<void>((resume) => waiting.push(resume));
        continue;
      }
      const target = confinedPath(cropDir, item.job.target);
      if (target) await ensureDir(path.dirname(target));
      onResult(item.job, await cropOne(cropDir, item.job, settings, log, append, item.read));
    }
  };
  const sharpWorkers = () =>
    Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, sharpWorker);
  try {
    if (!turboJpeg() || jobs.length === 0) {
      queue.push(...jobs.map((job) => ({ job })));
      await Promise.all(sharpWorkers());
      return;
    }
    fed = false;
    const sharpDone = Promise.all(sharpWorkers());
    try {
      await runFast(cropDir, jobs, settings, log, onResult, logFile, concurrency, (job, read) => {
        queue.push({ job, read });
        wake();
      });
    } finally {
      fed = true;
      wake();
    }
    await sharpDone;
  } finally {
    await logFile.close();
  }
}

/** Batches of this many jobs go to a crop thread at a time (fewer messages, each still short). */
const BATCH = 16;

/**
 * The fast path: batches of jobs cropped here and in crop threads (worker.ts), in the order they
 * finish; the crop log, the outcomes and whatever is left to sharp stay with the main thread.
 */
async function runFast(
  cropDir: string,
  jobs: readonly CropJob[],
  settings: CropSettings,
  log: CropLog,
  onResult: (job: CropJob, outcome: CropOutcome) => void,
  logFile: fs.FileHandle,
  concurrency: number,
  toSharp: (job: CropJob, read: { input: Uint8Array; key: string }) => void,
): Promise<void> {
  // The main thread crops too (it has little else to do), beside one crop thread per further core: a
  // thread costs ~30 ms of CPU to start (~250 ms from source, under tsx), so no more than there are batches.
  const threads = Math.min(os.availableParallelism(), concurrency, Math.ceil(jobs.length / BATCH));
  const pool = threads > 1 ? startCropPool(settings, threads - 1) : null;
  const tj = turboJpeg();
  const here = async (batch: WorkerJob[]) => {
    await new Promise(setImmediate); // let replies, log writes and progress through between batches
    return batch.map((job) => cropJob(job, settings, tj));
  };
  let next = 0;
  const feed = async (run: (batch: WorkerJob[]) => Promise<WorkerResult[]>) => {
    while (next < jobs.length) {
      const batch = jobs.slice(next, next + BATCH);
      next += batch.length;
      const work = batch.map((job) => ({
        ...job,
        file: confinedPath(cropDir, job.target),
        known: log.get(job.target)?.k,
      }));
      let results: WorkerResult[];
      let threadGone = false;
      try {
        results = await run(work);
      } catch (err) {
        if (run === here) throw err;
        // A crop thread that failed (or ended) leaves its batch, and the rest, to the others.
        results = await here(work);
        threadGone = true;
      }
      const lines: string[] = [];
      const outcomes = results.map((r, i): CropOutcome | null => {
        const job = batch[i]!;
        if (r.status === 'existing') return { status: 'existing', hash: parseHash(log.get(job.target)!.h) };
        if (r.status === 'sharp') return (toSharp(job, { input: r.input, key: r.key }), null);
        if (r.status !== 'written') return r;
        lines.push(logLine(log, job.target, r.key, r.hash));
        return { status: 'written', hash: r.hash };
      });
      // One append per batch, after its crops were renamed into place.
      if (lines.length > 0) await logFile.write(lines.join(''));
      outcomes.forEach((o, i) => o && onResult(batch[i]!, o));
      if (threadGone) return;
    }
  };
  try {
    // Two batches queued per thread, so that none waits on the main thread between batches.
    const threadFeeds = Array.from({ length: (pool?.size ?? 0) * 2 }, () => feed((b) => pool!.run(b)));
    await Promise.all([feed(here), ...threadFeeds]);
  } finally {
    await pool?.close();
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
