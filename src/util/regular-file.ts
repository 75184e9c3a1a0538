import { constants, promises as fs } from 'node:fs';
import { UserError } from './errors.js';

/**
 * Special files (a FIFO, a device, a socket) are refused wherever a path is read: reading a FIFO blocks
 * until some other process writes to it, so `photo.jpg` made with mkfifo would hang a command forever,
 * and /dev/zero never ends. The file is opened without blocking and checked before a byte is read.
 */
export async function readRegularFile(file: string, maxBytes = Infinity): Promise<Buffer> {
  const handle = await openRegular(file);
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new UserError(`${file}: ${size} bytes, over the limit of ${maxBytes}`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * For a path handed to a library that opens it itself (sharp): refuses a special file, and leaves a
 * missing one to the library's own error. stat never blocks, even on a FIFO.
 */
export async function refuseSpecialFile(file: string): Promise<void> {
  const st = await fs.stat(file).catch(() => null);
  if (st && !st.isFile()) throw new SpecialFileError(`${file}: ${kindOf(st)}, not a regular file; refused`);
}

/** What kind of special file a stat describes, for messages. */
function kindOf(st: {
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
  isDirectory(): boolean;
}): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

async function openRegular(file: string): Promise<fs.FileHandle> {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer (Windows has no FIFOs).
  const handle = await fs.open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  const st = await handle.stat().catch(async (err) => {
    await handle.close();
    throw err;
  });
  if (!st.isFile()) {
    await handle.close();
    throw new SpecialFileError(`${file}: ${kindOf(st)}, not a regular file; refused`);
  }
  return handle;
}

/** A path that names a FIFO, a device, a socket or a folder where a file was expected. */
export class SpecialFileError extends UserError {
  readonly code = 'special_file';
  override name = 'SpecialFileError';
}
