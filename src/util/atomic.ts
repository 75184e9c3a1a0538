import { promises as fs } from 'node:fs';
import path from 'node:path';

let counter = 0;

/** A sibling temp path: same directory, so the final rename never crosses file systems. */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);
}

/**
 * Writes a file so that readers see either the old content or the whole new content, never a part:
 * write to a temp file in the same directory, fsync, then rename over the target.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempPathFor(file);
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Replaces a whole directory atomically: `fill` writes into a fresh temp directory beside `dir`,
 * which is then renamed into place (the old one, if any, is moved aside first and removed after).
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const tmp = tempPathFor(dir);
  await fs.mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const old = `${tmp}.old`;
  let hadOld = false;
  try {
    await fs.rename(dir, old);
    hadOld = true;
  } catch {
    /* no previous directory */
  }
  await fs.rename(tmp, dir);
  if (hadOld) await fs.rm(old, { recursive: true, force: true });
}
