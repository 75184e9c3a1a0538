import { promises as fs } from 'node:fs';

/** Whether a path exists (file or directory); never throws. */
export function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}
