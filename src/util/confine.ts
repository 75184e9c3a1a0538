import path from 'node:path';

/**
 * Where a path read from a data file (a CSV's path column, a .mat's full_path) points inside `base`,
 * or null when it would lead out of it: an absolute path (POSIX or Windows style), `..` segments that
 * climb above `base`, or a NUL byte. A data file is input like any other: a crafted one must not make
 * a command read or write files the user never named (`../../etc/passwd`, `../../home/me/.bashrc`).
 * The check is lexical (symlinks inside `base` are the user's own business).
 */
export function confinedPath(base: string, listed: string): string | null {
  if (!listed || listed.includes('\0')) return null;
  if (path.isAbsolute(listed) || path.win32.isAbsolute(listed)) return null;
  const root = path.resolve(base);
  const full = path.resolve(root, listed);
  const rel = path.relative(root, full);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return null;
  return full;
}
