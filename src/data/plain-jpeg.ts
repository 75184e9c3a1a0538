import { TJCS_RGB, TJCS_YCBCR, type JpegHeader, type TurboJpeg } from './jpeg-turbo.js';
import type { Rgb } from './square.js';

/**
 * JPEGs whose stored pixels libturbojpeg decodes to exactly what sharp gives (the crop fast path and
 * predict's decoder use it): YCbCr or RGB (not CMYK or grey, which sharp converts), no embedded ICC profile
 * (which sharp applies), within sharp's pixel limit. The EXIF orientation comes with the header: only the
 * caller knows whether the stored grid is what it wants.
 */
export interface PlainJpeg extends JpegHeader {
  /** EXIF orientation, 1 when absent. */
  orientation: number;
}

/** The header of a plain JPEG (above), or null: then sharp decides what the file is and says what is wrong. */
export function plainJpeg(tj: TurboJpeg, input: Uint8Array): PlainJpeg | null {
  const facts = jpegFacts(input);
  if (!facts || facts.icc) return null;
  const header = tj.header(input);
  if (!header || (header.colorspace !== TJCS_YCBCR && header.colorspace !== TJCS_RGB)) return null;
  // sharp's limitInputPixels default: bigger images are its error to report.
  if (header.width * header.height > 0x3fff * 0x3fff) return null;
  return { ...header, orientation: facts.orientation };
}

/** The stored pixels at 1/`shrink` of the size (DCT scaling: 1, 2, 4 or 8), or null on any decode warning. */
export function decodeJpeg(tj: TurboJpeg, input: Uint8Array, header: JpegHeader, shrink: number): Rgb | null {
  const width = Math.ceil(header.width / shrink);
  const height = Math.ceil(header.height / shrink);
  const data = new Uint8Array(width * height * 3);
  return tj.decode(input, header, shrink, data) ? { data, width, height } : null;
}

/**
 * What sharp would act on before the pixels: the EXIF orientation (1 when absent) and whether an ICC
 * profile is embedded. Null when the file is not a JPEG or its segments cannot be read plainly.
 */
export function jpegFacts(buf: Uint8Array): { orientation: number; icc: boolean } | null {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let orientation: number | null = null;
  let icc = false;
  let i = 2;
  while (i + 4 <= buf.length) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // start of scan: no more metadata
    const length = view.getUint16(i + 2);
    if (length < 2 || i + 2 + length > buf.length) return null;
    const seg = buf.subarray(i + 4, i + 2 + length);
    if (marker === 0xe1 && startsWith(seg, 'Exif\0\0')) {
      if (orientation !== null) return null; // two EXIF blocks: leave it to sharp
      orientation = exifOrientation(seg.subarray(6));
      if (orientation === null) return null;
    } else if (marker === 0xe2 && startsWith(seg, 'ICC_PROFILE\0')) icc = true;
    i += 2 + length;
  }
  return { orientation: orientation ?? 1, icc };
}

function startsWith(seg: Uint8Array, text: string): boolean {
  if (seg.length < text.length) return false;
  for (let k = 0; k < text.length; k++) if (seg[k] !== text.charCodeAt(k)) return false;
  return true;
}

/** Tag 0x0112 of a TIFF block's first IFD: 1 when absent, null when the block cannot be read. */
function exifOrientation(tiff: Uint8Array): number | null {
  if (tiff.length < 8) return null;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return null;
  if (view.getUint16(2, little) !== 42) return null;
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return null;
  const count = view.getUint16(ifd, little);
  if (ifd + 2 + count * 12 > tiff.length) return null;
  for (let e = 0; e < count; e++) {
    const at = ifd + 2 + e * 12;
    if (view.getUint16(at, little) !== 0x0112) continue;
    if (view.getUint16(at + 2, little) !== 3) return null; // not a SHORT
    return view.getUint16(at + 8, little);
  }
  return 1;
}
