import { promises as fs } from 'node:fs';
import { UserError } from './errors.js';

/** Reads a UTF-8 text file, or fails with a one-line error naming it (ENOENT, EACCES, ...). */
export async function readTextFile(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(
      `${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}
