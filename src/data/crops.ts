import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { tempPathFor, writeFileAtomic } from '../util/atomic.js';
import { UserError, reason } from '../util/errors.js';
import { cropSquare, decodeRgb, type SquareRegion } from './image.js';
import { confinedPath } from '../util/confine.js';

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

export type CropOutcome =
  { status: 'written' | 'existing' } | { status: 'missing' | 'unreadable'; reason: string };

const SETTINGS_FILE = '.crop-settings.json';

/**
 * Prepares the crop folder for a (re)run and returns the crops already there, which a re-run keeps.
 * A crop is only ever renamed into place once fully written, so one that exists is complete; left-over
 * temp files of a killed run are removed. If the folder was made with other settings, it is emptied
 * first (its crops would be the wrong size), and the settings file is written before any crop so that
 * a kill mid-way never mixes the two.
 */
export async function prepareCropDir(cropDir: string, settings: CropSettings): Promise<Set<string>> {
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
    return new Set();
  }
  const existing = new Set<string>();
  const entries = await fs.readdir(cropDir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    // `parentPath` is node >= 20.12; `path` is the older name of the same field.
    const dir = (e as { parentPath?: string }).parentPath ?? (e as unknown as { path: string }).path;
    const full = path.join(dir, e.name);
    if (e.name.startsWith('.') && e.name.endsWith('.tmp')) await fs.rm(full, { force: true });
    else if (e.name !== SETTINGS_FILE) existing.add(path.relative(cropDir, full).split(path.sep).join('/'));
  }
  return existing;
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

async function cropOne(cropDir: string, job: CropJob, settings: CropSettings): Promise<CropOutcome> {
  let input: Buffer;
  try {
    input = await fs.readFile(job.source);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? { status: 'missing', reason: 'no such file' }
      : { status: 'unreadable', reason: code ?? reason(err) };
  }
  // Adapters confine their paths already; this keeps any future one from writing outside crop/.
  const target = confinedPath(cropDir, job.target);
  if (!target) return { status: 'unreadable', reason: `${job.target}: crop name leads out of ${cropDir}` };
  const tmp = tempPathFor(target);
  try {
    if (job.region) {
      const face = await cropSquare(await decodeRgb(input), job.region, settings.imgSize);
      await sharp(face, { raw: { width: settings.imgSize, height: settings.imgSize, channels: 3 } })
        .jpeg({ quality: settings.quality })
        .toFile(tmp);
      await fs.rename(tmp, target);
      return { status: 'written' };
    }
    let img = sharp(input, { failOn: 'error' });
    if (settings.margin !== null && job.box) {
      // face_location is in the stored pixel grid (MATLAB's imread ignores EXIF), so no auto-rotation here.
      const meta = await img.metadata();
      const rect = marginRect(job.box, settings.margin, meta.width ?? 0, meta.height ?? 0);
      if (!rect) return { status: 'unreadable', reason: 'face box lies outside the image' };
      img = img.extract(rect);
    } else {
      img = img.rotate();
    }
    await img
      .removeAlpha()
      .toColourspace('srgb')
      .resize(settings.imgSize, settings.imgSize, { fit: 'cover', kernel: 'lanczos3' })
      .jpeg({ quality: settings.quality })
      .toFile(tmp);
    await fs.rename(tmp, target);
    return { status: 'written' };
  } catch (err) {
    await fs.rm(tmp, { force: true });
    return { status: 'unreadable', reason: reason(err) };
  }
}

/**
 * Crops every job with sharp: `concurrency` images in flight at once (each a libvips pipeline on the libuv
 * thread pool), so all cores work while memory stays bounded by the number in flight. Jobs whose target
 * is in `existing` are not redone. A bad image is reported through `onResult`, never thrown.
 */
export async function writeCrops(
  cropDir: string,
  jobs: readonly CropJob[],
  settings: CropSettings,
  existing: ReadonlySet<string>,
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
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      if (existing.has(job.target)) {
        onResult(job, { status: 'existing' });
        continue;
      }
      const target = confinedPath(cropDir, job.target);
      if (target) await ensureDir(path.dirname(target));
      onResult(job, await cropOne(cropDir, job, settings));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, worker));
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
