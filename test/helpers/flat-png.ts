import zlib from 'node:zlib';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A black RGB PNG of any size in a few hundred kB and well under a second: the image data is rows of
 * zeros, deflated once for a band of rows with a full flush (so the band's compressed bytes are
 * independent of what came before) and that block repeated. The zlib checksum of n zero bytes is
 * adler32 = (n mod 65521) << 16 | 1. sharp would take seconds to encode a 15000 x 15000 image.
 */
export function flatPng(width: number, height: number): Buffer {
  const rowBytes = 1 + width * 3; // filter byte 0 + RGB
  const band = Math.min(height, 256);
  const deflater = zlib.deflateRawSync(Buffer.alloc(rowBytes * band), {
    flush: zlib.constants.Z_FULL_FLUSH,
    finishFlush: zlib.constants.Z_FULL_FLUSH,
  });
  const parts: Buffer[] = [Buffer.from([0x78, 0x01])];
  for (let y = 0; y + band <= height; y += band) parts.push(deflater);
  const rest = height % band;
  if (rest)
    parts.push(
      zlib.deflateRawSync(Buffer.alloc(rowBytes * rest), { finishFlush: zlib.constants.Z_FULL_FLUSH }),
    );
  parts.push(Buffer.from([0x03, 0x00])); // an empty final fixed-Huffman block
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE(((((rowBytes * height) % 65521) << 16) | 1) >>> 0);
  parts.push(adler);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.concat(parts)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
