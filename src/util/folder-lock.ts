import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from './errors.js';

/** The lock file inside a locked folder. */
export const LOCK_FILE = '.agegender.lock';

/**
 * The lock file, or a file of a run taking or clearing it (`<lock>.<pid>.<random>.tmp`, `<lock>.<pid>.stale`):
 * a folder's own content check skips these, or a run would refuse its folder for a second run's attempt.
 */
export function isLockFile(name: string): boolean {
  return name === LOCK_FILE || name.startsWith(`${LOCK_FILE}.`);
}

/** Who holds a lock: written into the lock file, shown to whoever finds the folder taken. */
export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

/** The folder is being written by another run (its holder named in the message). */
export class FolderLockedError extends UserError {
  readonly code = 'folder_locked';
  override name = 'FolderLockedError';
  constructor(
    message: string,
    readonly holder: LockHolder | null,
  ) {
    super(message);
  }
}

/**
 * Runs `fn` while holding an exclusive lock on `dir` (a preprocess output folder, a training run folder):
 * a second run into the same folder fails at once with a one-line error naming the holder (pid, host,
 * command) instead of mixing its files with the first's. A lock left by a process that has died (kill -9,
 * a crash) on this host is taken over; one held from another host is never guessed about. `dir` must
 * exist. The lock is released when `fn` settles.
 *
 * @example
 * await withFolderLock(runDir, 'agegender train', async () => { ... });
 */
export async function withFolderLock<T>(dir: string, command: string, fn: () => Promise<T>): Promise<T> {
  const release = await lockFolder(dir, command);
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Takes the lock on `dir`; the returned function releases it. See withFolderLock. */
export async function lockFolder(dir: string, command: string): Promise<() => Promise<void>> {
  const file = path.join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: os.hostname(), command, since: new Date().toISOString() };
  const text = JSON.stringify(me) + '\n';
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await create(file, text)) return () => fs.rm(file, { force: true });
    const raw = await fs.readFile(file, 'utf8').catch(() => null);
    if (raw === null) continue; // released meanwhile: try again
    const holder = parseHolder(raw);
    if (!holder || !isDeadHere(holder)) throw lockedError(dir, file, holder);
    // Stale: move it aside, then make sure what was moved is the stale lock and not a fresh one that
    // another run put there in between (it goes back then, and that run holds the folder).
    const aside = `${file}.${process.pid}.stale`;
    if (
      !(await fs.rename(file, aside).then(
        () => true,
        () => false,
      ))
    )
      continue;
    const moved = await fs.readFile(aside, 'utf8').catch(() => null);
    if (moved !== raw && moved !== null) {
      await fs.link(aside, file).catch(() => {});
      await fs.rm(aside, { force: true });
      throw lockedError(dir, file, parseHolder(moved));
    }
    await fs.rm(aside, { force: true });
  }
  throw lockedError(dir, file, null);
}

/** Creates the lock file with our content, atomically: false when it exists already. */
async function create(file: string, text: string): Promise<boolean> {
  // Written in full under a private name, then linked in (link fails if the name exists): no reader ever
  // sees a half-written lock.
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await fs.writeFile(tmp, text, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${path.dirname(file)}: cannot lock the folder: ${err.code ?? err.message}`);
  });
  try {
    await fs.link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new UserError(
      `${path.dirname(file)}: cannot lock the folder: ${(err as NodeJS.ErrnoException).code}`,
    );
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

function parseHolder(raw: string): LockHolder | null {
  try {
    const h = JSON.parse(raw) as LockHolder;
    return Number.isInteger(h.pid) && typeof h.host === 'string' ? h : null;
  } catch {
    return null;
  }
}

/** A holder on this host whose process no longer exists. */
function isDeadHere(h: LockHolder): boolean {
  if (h.host !== os.hostname()) return false;
  try {
    process.kill(h.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function lockedError(dir: string, file: string, h: LockHolder | null): FolderLockedError {
  const who = h
    ? `${h.command} (pid ${h.pid} on ${h.host}, since ${h.since})`
    : 'another run (its lock file cannot be read)';
  return new FolderLockedError(
    `${dir}: in use by ${who}; wait for it to finish, or remove ${file} if that run is gone`,
    h,
  );
}
