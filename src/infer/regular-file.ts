import { constants, promises as fs } from 'node:fs';
import { UserError } from '../util/errors.js';

/**
 * Reads a file that must be a regular file of at most `maxBytes`. Opened non-blocking and checked on the
 * open descriptor, so a FIFO named like a photo or a weights file (which would block a read forever) or a
 * device (endless bytes) is a one-line error instead of a hang, and nothing can swap the file in between.
 */
export async function readRegularFile(file: string, maxBytes: number): Promise<Buffer> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code ?? err),
    );
  }
  try {
    const st = await handle.stat();
    if (st.isDirectory()) throw new UserError('is a directory');
    if (!st.isFile()) throw new UserError('not a regular file (a FIFO, socket or device)');
    if (st.size > maxBytes) throw new UserError(`${st.size} bytes, over the limit of ${maxBytes}`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
