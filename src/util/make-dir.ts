import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';

/**
 * `mkdir -p` for a folder the user named, with one-line errors instead of EEXIST / ENOTDIR / EACCES:
 * `out: exists and is a file, not a folder`, `a/file/sub: a/file is a file, not a folder`.
 */
export async function makeDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTDIR')
      throw new UserError(`${dir}: cannot create the folder: ${code ?? (err as Error).message}`);
  }
  // Find the part of the path that is in the way.
  let blocker = path.resolve(dir);
  for (let p = blocker; ; p = path.dirname(p)) {
    const st = await fs.stat(p).catch(() => null);
    if (st && !st.isDirectory()) blocker = p;
    if (p === path.dirname(p)) break;
  }
  const shown = path.relative(process.cwd(), blocker) || blocker;
  if (blocker === path.resolve(dir)) throw new UserError(`${dir}: exists and is a file, not a folder`);
  throw new UserError(`${dir}: ${shown} is a file, not a folder`);
}
