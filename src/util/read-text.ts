import { UserError } from './errors.js';
import { readRegularFile } from './regular-file.js';

/** Reads a UTF-8 text file, or fails with a one-line error naming it (ENOENT, EACCES, a FIFO, ...). */
export async function readTextFile(file: string): Promise<string> {
  try {
    return (await readRegularFile(file)).toString('utf8');
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(
      `${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}
