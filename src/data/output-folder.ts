import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';
import { isLockFile } from '../util/folder-lock.js';
import { OUTPUT_SET, type OutputName } from './output-set.js';

/**
 * A `preprocess` output folder is agegender's only when it says so: this marker, written before anything
 * else, lists the files of the output set that agegender wrote there. A folder that is not empty and has
 * no marker is the user's and is refused; in our own folder, a train.csv / summary.json / histogram that
 * the marker does not list (the user put it there) is never replaced.
 */
export const OUTPUT_MARKER = '.agegender-preprocess.json';

interface Marker {
  format: 'agegender-preprocess-output';
  version: 1;
  /** Files of the output set written here (crop/ and the dot files are agegender's by their names). */
  files: OutputName[];
}

/**
 * Makes `dir` (existing, locked by the caller) a preprocess output folder, or refuses it: fine when empty,
 * when it carries the marker, or when it was made by an earlier agegender (its summary.json says so).
 */
export async function claimOutputFolder(dir: string): Promise<void> {
  const marker = await readMarker(dir);
  if (marker) return;
  const entries = (await fs.readdir(dir)).filter((n) => !isLockFile(n));
  let files: OutputName[] = [];
  if (entries.length > 0) {
    if (!(await madeByEarlierVersion(dir)))
      throw new UserError(
        `${dir}: not empty and not made by agegender preprocess (${entries.length} entries, e.g. ` +
          `${entries.slice(0, 3).join(', ')}); choose an empty or new output folder`,
      );
    files = OUTPUT_SET.filter((n) => entries.includes(n));
  }
  await writeMarker(dir, files);
}

/**
 * Before the output set is replaced: refuses when a file it would replace or remove is not listed in the
 * marker (someone else's), then records the new files, so a run killed during the switch leaves a
 * marker that already owns them.
 */
export async function ownOutputSet(dir: string, write: readonly OutputName[]): Promise<void> {
  const marker = (await readMarker(dir)) ?? { files: [] as OutputName[] };
  for (const name of OUTPUT_SET) {
    if (marker.files.includes(name)) continue;
    const st = await fs.lstat(path.join(dir, name)).catch(() => null);
    if (st)
      throw new UserError(
        `${path.join(dir, name)}: not written by agegender preprocess, so it is not replaced; move it away`,
      );
  }
  await writeMarker(dir, [...new Set([...marker.files, ...write])]);
}

async function readMarker(dir: string): Promise<Marker | null> {
  const text = await fs.readFile(path.join(dir, OUTPUT_MARKER), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const m = JSON.parse(text) as Marker;
    if (m.format === 'agegender-preprocess-output' && Array.isArray(m.files)) return m;
  } catch {
    /* damaged: treated as ours, nothing listed */
  }
  return { format: 'agegender-preprocess-output', version: 1, files: [] };
}

async function writeMarker(dir: string, files: OutputName[]): Promise<void> {
  const marker: Marker = { format: 'agegender-preprocess-output', version: 1, files };
  await writeFileAtomic(path.join(dir, OUTPUT_MARKER), JSON.stringify(marker) + '\n');
}

/** Folders written before the marker existed: their summary.json, or the crop folder's settings file. */
async function madeByEarlierVersion(dir: string): Promise<boolean> {
  const summary = await fs.readFile(path.join(dir, 'summary.json'), 'utf8').catch(() => null);
  if (summary !== null) {
    try {
      return (JSON.parse(summary) as { format?: string }).format === 'agegender-preprocess-summary';
    } catch {
      return false;
    }
  }
  return (await fs.stat(path.join(dir, 'crop', '.crop-settings.json')).catch(() => null)) !== null;
}
