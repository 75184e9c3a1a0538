import { createReadStream, promises as fs } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError, reason } from '../util/errors.js';
import { makeDir } from '../util/make-dir.js';
import { createProgress } from '../util/progress.js';
import { IMDB_WIKI_ARCHIVES, IMDB_WIKI_URL_BASE, type ImdbWikiArchive } from './datasets/imdb-wiki.js';

const MiB = 1024 * 1024;

/** What a partial download was fetching, so a resume never appends bytes of a different file. */
interface PartInfo {
  url: string;
  total: number | null;
  etag: string | null;
  lastModified: string | null;
}

export interface FetchOptions {
  /** Attempts after a dropped connection before giving up (each resumes where the last stopped). */
  retries?: number;
  json?: boolean;
  /** Pause before a retry, in ms (doubles each time). */
  retryDelayMs?: number;
}

async function readPartInfo(file: string): Promise<PartInfo | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as PartInfo;
  } catch {
    return null;
  }
}

/**
 * GET with redirects followed (the dataset site may redirect). node:http rather than fetch: when a
 * connection drops, fetch's web stream throws away the bytes it had queued, node's stream hands them over
 * first, so a resume starts later.
 */
function get(url: string, headers: Record<string, string>, redirects = 5): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    // No keep-alive pool: a handful of long requests, each on its own connection, closed when it ends.
    const req = mod.get(url, { headers, agent: false }, (res) => {
      const loc = res.headers.location;
      if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && loc) {
        res.resume();
        if (redirects <= 0) return reject(new UserError(`${url}: too many redirects`));
        const next = new URL(loc, url).href;
        try {
          checkUrl(next);
        } catch (err) {
          // A redirect elsewhere than http(s) (file://, ftp://) is refused, never retried.
          return reject(new UserError(`${url}: redirects to ${(err as Error).message}`));
        }
        get(next, headers, redirects - 1).then(resolve, reject);
        return;
      }
      resolve(res);
    });
    req.on('error', reject);
    // A stalled connection counts as dropped (and is resumed) after a minute of silence.
    req.setTimeout(60_000, () => req.destroy(new Error('no data for 60 s')));
  });
}

/** Only http(s) can be fetched: anything else (file://, ftp://, a typo) fails at once, not after retries. */
function checkUrl(url: string): void {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new UserError(`${url}: not a URL (expected http://... or https://...)`);
  }
  if (protocol !== 'http:' && protocol !== 'https:')
    throw new UserError(`${url}: only http:// and https:// URLs can be downloaded, not ${protocol}//`);
}

async function sizeOf(file: string): Promise<number> {
  return (await fs.stat(file).catch(() => null))?.size ?? 0;
}

/**
 * Downloads `url` to `dest`, streaming to `dest.part` and renaming when complete and of the announced
 * size. A partial file from an earlier run or a dropped connection is resumed with an HTTP Range request
 * (If-Range guards against the file having changed on the server); a server that ignores Range restarts
 * from zero. Returns the final size.
 */
export async function downloadFile(url: string, dest: string, opts: FetchOptions = {}): Promise<number> {
  checkUrl(url);
  const part = `${dest}.part`;
  const infoFile = `${dest}.part.json`;
  await fs.mkdir(path.dirname(dest), { recursive: true });
  let info = await readPartInfo(infoFile);
  if (info && info.url !== url) {
    await fs.rm(part, { force: true });
    info = null;
  }
  const retries = opts.retries ?? 5;
  let delay = opts.retryDelayMs ?? 1000;
  let progress: ReturnType<typeof createProgress> | null = null;
  let shown = 0;
  const show = (bytes: number, total: number | null) => {
    if (!progress) {
      progress = createProgress({ unit: 'MiB', total: Math.ceil((total ?? 0) / MiB), json: opts.json });
      shown = 0;
    }
    const mib = Math.floor(bytes / MiB);
    if (mib > shown) {
      progress.tick(mib - shown);
      shown = mib;
    }
  };
  try {
    for (let attempt = 0; ; attempt++) {
      let have = info ? await sizeOf(part) : 0;
      if (info?.total !== null && info?.total !== undefined && have === info.total) break;
      if (info?.total && have > info.total) {
        await fs.rm(part, { force: true });
        have = 0;
      }
      const headers: Record<string, string> = {};
      if (have > 0) {
        headers.Range = `bytes=${have}-`;
        const validator = info?.etag ?? info?.lastModified;
        if (validator) headers['If-Range'] = validator;
      }
      try {
        const res = await get(url, headers);
        const writeBody = bodyReader(res);
        const status = res.statusCode ?? 0;
        if (status === 416 && have > 0) {
          // Our part is no smaller than the file: either complete or stale; the size decides.
          res.resume();
          const total = Number(/\/(\d+)$/.exec(res.headers['content-range'] ?? '')?.[1] ?? NaN);
          if (total === have) {
            info = { ...info!, total };
            break;
          }
          await fs.rm(part, { force: true });
          info = null;
          continue;
        }
        if (status !== 200 && status !== 206) {
          res.resume();
          throw new UserError(`${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trim());
        }
        let start = 0;
        let total: number | null;
        if (status === 206) {
          const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
          if (!m || Number(m[1]) !== have) {
            res.resume();
            throw new UserError(`${url}: the server answered a resume with a bad Content-Range`);
          }
          start = have;
          total = m[2] === '*' ? null : Number(m[2]);
        } else {
          const len = res.headers['content-length'];
          total = len === undefined ? null : Number(len);
        }
        const header = (h: string) => {
          const v = res.headers[h];
          return typeof v === 'string' ? v : null;
        };
        info = { url, total, etag: header('etag'), lastModified: header('last-modified') };
        await writeFileAtomic(infoFile, JSON.stringify(info));
        let bytes = start;
        show(bytes, total);
        // Sequential appends: whatever reached the file is a correct prefix, whenever the connection drops.
        const fh = await fs.open(part, start > 0 ? 'a' : 'w');
        try {
          await writeBody(fh, (n) => show((bytes += n), total));
        } finally {
          await fh.close();
        }
        if (total === null) break;
        if (bytes === total) break;
        throw new Error(`connection ended after ${bytes} of ${total} bytes`);
      } catch (err) {
        if (err instanceof UserError) throw err;
        if (attempt >= retries)
          throw new UserError(
            `${url}: download failed after ${attempt + 1} attempts (${reason(err)}); run again to resume`,
          );
        if (!opts.json) process.stderr.write(`\n${url}: ${reason(err)}; resuming in ${delay / 1000}s\n`);
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  } finally {
    (progress as ReturnType<typeof createProgress> | null)?.stop();
  }
  const size = await sizeOf(part);
  if (info?.total !== null && info?.total !== undefined && size !== info.total)
    throw new UserError(`${part}: ${size} bytes, the server announced ${info.total}; run again to resume`);
  await fs.rename(part, dest);
  await fs.rm(infoFile, { force: true });
  return size;
}

/** The archive itself is bad (truncated, corrupt): the caller removes it rather than reuse it. */
class ExtractError extends UserError {
  constructor(
    file: string,
    readonly why: string,
  ) {
    super(`${file}: cannot extract: ${why}`);
  }
}

/**
 * Extracts a tar into `dir` atomically: into a temp folder beside it first, renamed into place when done
 * (a tar whose single top folder is already named like `dir` is unwrapped). npm's `tar` refuses absolute
 * paths and `..` entries.
 */
export async function extractTar(tarFile: string, dir: string, json = false): Promise<void> {
  const tmp = path.join(path.dirname(dir), `.${path.basename(dir)}.extracting`);
  // The unpacker may still be writing the entries it had read when the error came: retry the removal.
  const removeTmp = () => fs.rm(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  await removeTmp();
  await fs.mkdir(tmp, { recursive: true });
  const total = await sizeOf(tarFile);
  const progress = createProgress({ unit: 'MiB extracted', total: Math.ceil(total / MiB), json });
  let shown = 0;
  let bytes = 0;
  const unpack = tar.x({ cwd: tmp, strict: true });
  // Settled once the unpacker has no file writes pending (they can outlive a parse error).
  const unpacked = new Promise<void>((resolve) => {
    unpack.once('close', resolve);
    unpack.once('finish', resolve);
    unpack.once('error', () => resolve());
  });
  try {
    await pipeline(
      createReadStream(tarFile).on('data', (c) => {
        bytes += c.length;
        const mib = Math.floor(bytes / MiB);
        if (mib > shown) (progress.tick(mib - shown), (shown = mib));
      }),
      unpack,
    );
    const top = await fs.readdir(tmp);
    const inner = top.length === 1 && top[0] === path.basename(dir) ? path.join(tmp, top[0]) : tmp;
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(inner, dir);
    if (inner !== tmp) await removeTmp();
  } catch (err) {
    // Whatever failed (a bad header, a `..` entry, a full disk), the archive is not trusted again and no
    // half-extracted folder stays behind.
    await Promise.race([unpacked, new Promise((r) => setTimeout(r, 5000))]);
    await removeTmp().catch(() => {});
    throw new ExtractError(tarFile, reason(err));
  } finally {
    progress.stop();
  }
}

export interface DownloadOptions {
  outputDir: string;
  force?: boolean;
  urlBase?: string;
  /** Keep the .tar after extracting it (default: removed, it doubles the disk used). */
  keepTar?: boolean;
  json?: boolean;
  retries?: number;
  retryDelayMs?: number;
}

export interface DownloadResult {
  dataset: ImdbWikiArchive;
  url: string;
  bytes: number;
  dir: string;
  mat: string;
}

const MARKER = '.agegender-download.json';

/**
 * `agegender download imdb|wiki`: fetches `<name>_crop.tar` (resumable), extracts it to
 * `<out>/<name>_crop/` and marks it finished; a finished download is not redone without `force`.
 */
export async function downloadDataset(
  dataset: ImdbWikiArchive,
  opts: DownloadOptions,
): Promise<DownloadResult> {
  const name = IMDB_WIKI_ARCHIVES[dataset];
  const url = `${(opts.urlBase ?? IMDB_WIKI_URL_BASE).replace(/\/+$/, '')}/${name}.tar`;
  const dir = path.join(opts.outputDir, name);
  // The archive is downloaded under a name of ours: a `wiki_crop.tar` the user put in --output-dir is never
  // taken for our download, recorded as fetched from the URL, or deleted.
  const tarFile = path.join(opts.outputDir, `.${name}.tar.download`);
  const marker = path.join(dir, MARKER);
  const mat = path.join(dir, `${dataset}.mat`);
  const done = await fs.readFile(marker, 'utf8').catch(() => null);
  if (done && !opts.force)
    throw new UserError(
      `${dir}: already downloaded (${JSON.parse(done).bytes} bytes); pass --force to download it again`,
    );
  // The extracted folder replaces `dir`: never one holding files this command did not put there.
  const st = await fs.lstat(dir).catch(() => null);
  if (st && !st.isDirectory())
    throw new UserError(`${dir}: exists and is not a folder; move it away or choose another --output-dir`);
  const found = await fs.readdir(dir).catch(() => null);
  if (!done && found && found.length > 0)
    throw new UserError(
      `${dir}: exists and was not made by agegender download (${found.length} entries); ` +
        'move it away or choose another --output-dir, it would be replaced',
    );
  checkUrl(url);
  // The folder the user named: a file in its place is a one-line error, before any request.
  await makeDir(opts.outputDir);
  if (opts.force) {
    await fs.rm(marker, { force: true });
    for (const f of [tarFile, `${tarFile}.part`, `${tarFile}.part.json`]) await fs.rm(f, { force: true });
  }
  // A complete tar from a run killed while extracting is reused (it was renamed from .part only once whole).
  const kept = await sizeOf(tarFile);
  if (kept > 0 && !opts.json)
    process.stderr.write(
      `${tarFile}: reusing the ${kept} bytes downloaded earlier (--force fetches it again)\n`,
    );
  const bytes = kept > 0 ? kept : await downloadFile(url, tarFile, opts);
  try {
    await extractTar(tarFile, dir, opts.json);
  } catch (err) {
    if (!(err instanceof ExtractError)) throw err;
    // A damaged archive must not be reused by the next run, which would fail the same way.
    await fs.rm(tarFile, { force: true });
    throw new UserError(`${url}: cannot extract: ${err.why}; removed it, run again to download it afresh`);
  }
  await writeFileAtomic(marker, JSON.stringify({ url, bytes, finished: new Date().toISOString() }) + '\n');
  const keptTar = path.join(opts.outputDir, `${name}.tar`);
  if (!opts.keepTar) await fs.rm(tarFile, { force: true });
  else if (!(await fs.lstat(keptTar).catch(() => null))) await fs.rename(tarFile, keptTar);
  return { dataset, url, bytes, dir, mat };
}

/**
 * Starts reading a response body at once, before the caller has a file to write it to, and returns the
 * function that writes it there in arrival order. Since Node 22 a dropped connection destroys the response
 * and discards what it had buffered, so the bytes must leave it as they arrive: they are the ones a resume
 * should not fetch again. Reading pauses while over 8 MiB wait for the disk.
 */
function bodyReader(res: IncomingMessage) {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let error: unknown = null;
  let wake: (() => void) | null = null;
  const notify = () => wake?.();
  res.on('data', (chunk: Buffer) => {
    queue.push(chunk);
    if ((queued += chunk.length) > 8 * MiB) res.pause();
    notify();
  });
  // A dropped connection may end with 'error' or only with 'close': the caller compares the byte count.
  for (const event of ['end', 'close'] as const) res.once(event, () => ((ended = true), notify()));
  res.once('error', (err) => ((error = err), (ended = true), notify()));
  return async (fh: fs.FileHandle, onWritten: (bytes: number) => void): Promise<void> => {
    for (;;) {
      for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
        await fh.write(chunk);
        queued -= chunk.length;
        onWritten(chunk.length);
      }
      if (ended) break;
      if (res.isPaused()) res.resume();
      await new Promise<void>((r) => (wake = r));
    }
    if (error) throw error;
  };
}
