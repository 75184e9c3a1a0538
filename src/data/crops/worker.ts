import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { tempPathFor } from '../../util/atomic.js';
import { FileReadError, reason } from '../../util/errors.js';
import { readRegularFileSync } from '../../util/regular-file.js';
import { fastCropPixels } from './fast-path.js';
import type { CropJob, CropSettings } from './job.js';
import { pixelHash, type ImageHash } from '../duplicates.js';
import { turboJpeg, type TurboJpeg } from '../jpeg-turbo.js';

/**
 * One crop thread of the pool in pool.ts: reads, keys, decodes, shrinks, hashes, encodes and writes
 * each crop synchronously (a core's worth of work with no event-loop hops). The main thread runs the same
 * cropJob for its own share, and keeps the crop log, the progress and the sharp path.
 */

/** A job as the pool hands it over: `known` is the source key the crop log has for its target. */
export interface WorkerJob extends CropJob {
  /** Where the crop goes (already confined to the crop folder), or null when its name leads outside. */
  file: string | null;
  known?: string;
}

/** What a thread made of a job; 'sharp': the fast path cannot promise sharp's result, sharp must. */
export type WorkerResult =
  | { status: 'existing'; key: string }
  | { status: 'missing' | 'unreadable'; reason: string }
  | { status: 'written'; key: string; hash: ImageHash }
  | { status: 'sharp'; key: string; input: Uint8Array };

/** The source key (write-crops.ts explains it): SHA-256 of the bytes plus the job's face box or region. */
export function sourceKey(input: Uint8Array, job: CropJob): string {
  const h = createHash('sha256').update(input);
  if (job.box) h.update(`box ${JSON.stringify(job.box)}`);
  if (job.region) h.update(`region ${JSON.stringify(job.region)}`);
  return h.digest('base64url');
}

/** One job, as write-crops.ts's cropOne does it, with the fast path where it applies. */
export function cropJob(job: WorkerJob, settings: CropSettings, tj: TurboJpeg | null): WorkerResult {
  let input: Buffer;
  try {
    input = readRegularFileSync(job.source);
  } catch (err) {
    if (err instanceof FileReadError)
      return { status: err.code === 'ENOENT' ? 'missing' : 'unreadable', reason: err.why };
    return { status: 'unreadable', reason: reason(err) };
  }
  const key = sourceKey(input, job);
  if (job.known === key) return { status: 'existing', key };
  if (!job.file || !tj) return { status: 'sharp', key, input };
  const file = job.file;
  // Each thread counts its temp names from 0: its id keeps two jobs with one target apart.
  const tmp = tempPathFor(file).replace(/\.tmp$/, `.${threadId}.tmp`);
  try {
    const pixels = fastCropPixels(tj, input, job, settings);
    if (!pixels) return { status: 'sharp', key, input };
    const size = settings.imgSize;
    const jpeg = tj.encode(pixels, size, size, settings.quality);
    try {
      writeFileSync(tmp, jpeg);
    } catch (err) {
      // A crop in a subfolder not made yet (a CSV's relative paths): make it, once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(tmp, jpeg);
    }
    const hash = pixelHash(pixels, size, size);
    renameSync(tmp, file);
    return { status: 'written', key, hash };
  } catch {
    // Whatever went wrong (a full disk, say), sharp's path tries again and words the error as before.
    rmSync(tmp, { force: true });
    return { status: 'sharp', key, input };
  }
}

if (!isMainThread && parentPort && (workerData as { cropWorker?: boolean } | null)?.cropWorker) {
  const { settings } = workerData as { settings: CropSettings };
  const tj = turboJpeg();
  const port = parentPort;
  port.on('message', (msg: { id: number; jobs: WorkerJob[] } | { close: true }) => {
    if ('close' in msg)
      port.close(); // nothing else pending: the thread ends
    else port.postMessage({ id: msg.id, results: msg.jobs.map((job) => cropJob(job, settings, tj)) });
  });
}
