import { type Stats, closeSync, constants, fstatSync, openSync, readSync, promises as fs } from 'node:fs';
import { FileReadError } from './errors.js';

/**
 * Special files (a FIFO, a device, a socket) are refused wherever a path is read: reading a FIFO blocks
 * until some other process writes to it, so `photo.jpg` made with mkfifo would hang a command forever,
 * and /dev/zero never ends. The file is opened without blocking and checked on the open descriptor before
 * a byte is read, so nothing can swap it in between.
 */

/** Reads a regular file of at most `maxBytes`, or fails with a FileReadError saying why in a few words. */
export async function readRegularFile(file: string, maxBytes = Infinity): Promise<Buffer> {
  let handle: fs.FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer (Windows has no FIFOs).
    handle = await fs.open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw openFailure(file, err);
  }
  try {
    checkRegular(file, await handle.stat(), maxBytes);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** readRegularFile for worker threads that work synchronously: the same checks and the same errors. */
export function readRegularFileSync(file: string, maxBytes = Infinity): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw openFailure(file, err);
  }
  try {
    const st = fstatSync(fd);
    checkRegular(file, st, maxBytes);
    // One stat, then reads to its size (readFileSync(fd) would stat again: ~15 us a crop).
    const buf = Buffer.allocUnsafeSlow(st.size);
    let got = 0;
    for (let n = 1; got < st.size && n > 0; got += n) n = readSync(fd, buf, got, st.size - got, got);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * For a path handed to a library that opens it itself (sharp): refuses a special file, and leaves a
 * missing one to the library's own error. stat never blocks, even on a FIFO.
 */
export async function refuseSpecialFile(file: string): Promise<void> {
  const st = await fs.stat(file).catch(() => null);
  if (st) checkRegular(file, st, Infinity);
}

function checkRegular(file: string, st: Stats, maxBytes: number): void {
  if (!st.isFile()) throw new FileReadError(file, `${kindOf(st)}, not a regular file`, 'special_file');
  if (st.size > maxBytes)
    throw new FileReadError(file, `${st.size} bytes, over the limit of ${maxBytes}`, 'too_large');
}

function openFailure(file: string, err: unknown): FileReadError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  const why = { ENOENT: 'no such file', EACCES: 'permission denied' }[code] ?? `cannot read: ${code}`;
  return new FileReadError(file, why, code);
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
  return 'a special file';
}
