import { readRegularFile } from './regular-file.js';

/** Reads a UTF-8 text file, or fails with a one-line error naming it (no such file, a FIFO, ...). */
export async function readTextFile(file: string): Promise<string> {
  return (await readRegularFile(file)).toString('utf8');
}
