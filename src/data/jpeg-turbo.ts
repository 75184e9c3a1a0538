import { createRequire } from 'node:module';

/**
 * Binds the few TurboJPEG functions the crop fast path calls (Debian's libturbojpeg0, `apt-get install
 * libturbojpeg0`), through koffi, for the crop fast path and predict's decoder. libturbojpeg is libjpeg-turbo, the decoder behind sharp's libvips
 * (sharp bundles mozjpeg, a libjpeg-turbo fork with the same decoder), so its pixels, DCT-scaled ones
 * included, are sharp's. Optional: without it `loadTurboJpeg` says why and sharp does the work.
 * One decompressor and one compressor per thread (TurboJPEG handles are not thread-safe).
 */

/** What a JPEG's header says; colorspace is TurboJPEG's TJCS (0 RGB, 1 YCbCr, 2 grey, 3 CMYK, 4 YCCK). */
export interface JpegHeader {
  width: number;
  height: number;
  colorspace: number;
}

export interface TurboJpeg {
  /** The header, or null when TurboJPEG cannot read it. */
  header(jpeg: Uint8Array): JpegHeader | null;
  /**
   * Decodes to RGB at 1/`shrink` of the size (libjpeg's DCT scaling: shrink 1, 2, 4 or 8), into `out`
   * (ceil(width / shrink) x ceil(height / shrink) x 3 bytes). False on any error or warning (a truncated
   * or corrupt file): the caller then leaves the file to sharp, which decides what is wrong with it.
   */
  decode(jpeg: Uint8Array, header: JpegHeader, shrink: number, out: Uint8Array): boolean;
  /** JPEG of RGB pixels at `quality`, 4:2:0 (sharp's default); a view valid until the next call. */
  encode(rgb: Uint8Array, width: number, height: number, quality: number): Uint8Array;
}

export const TJCS_RGB = 0;
export const TJCS_YCBCR = 1;
const TJPF_RGB = 0;
const TJSAMP_420 = 2;
const TJFLAG_NOREALLOC = 1024;
// TurboJPEG compresses with the fast integer DCT unless told; libjpeg's default (sharp's) is the accurate one.
const TJFLAG_ACCURATEDCT = 4096;
// Stop at the first warning (libjpeg's "premature end of data" and the like): such files go to sharp.
const TJFLAG_STOPONWARNING = 8192;

type Fn = (...args: unknown[]) => number;
interface Koffi {
  load(path: string): { func(decl: string): Fn };
}

const require = createRequire(import.meta.url);
let loaded: TurboJpeg | { reason: string } | undefined;

/** The binding for this thread, or why there is none (loaded once, on first use). */
export function loadTurboJpeg(): TurboJpeg | { reason: string } {
  if (sharpOnly()) return { reason: 'AGEGENDER_JPEG=sharp' };
  try {
    loaded ??= bind();
  } catch (err) {
    // A library without the expected symbols, no glibc (memmove is looked up in libc.so.6), ...
    loaded = { reason: `libturbojpeg unusable: ${(err as Error).message.split('\n')[0]}` };
  }
  return loaded;
}

/**
 * AGEGENDER_JPEG=sharp: sharp decodes and resamples throughout, neither libturbojpeg nor our port of
 * sharp's shrink (to compare, or to rule them out).
 */
export const sharpOnly = (): boolean => process.env.AGEGENDER_JPEG === 'sharp';

/** libturbojpeg, or null when it is off or missing (loadTurboJpeg says why): sharp then does its work. */
export function turboJpeg(): TurboJpeg | null {
  const loaded = loadTurboJpeg();
  return 'reason' in loaded ? null : loaded;
}

function bind(): TurboJpeg | { reason: string } {
  let koffi: Koffi;
  try {
    koffi = require('koffi') as Koffi;
  } catch {
    return { reason: 'the koffi package (FFI) is not installed' };
  }
  const name = process.env.AGEGENDER_TURBOJPEG_LIB || 'libturbojpeg.so.0';
  let lib: ReturnType<Koffi['load']>;
  try {
    lib = koffi.load(name);
  } catch (err) {
    return { reason: `${name}: ${(err as Error).message.split('\n')[0]} (apt-get install libturbojpeg0)` };
  }
  const initDecompress = lib.func('void *tjInitDecompress()') as unknown as () => object | null;
  const initCompress = lib.func('void *tjInitCompress()') as unknown as () => object | null;
  const decompressHeader3 = lib.func(
    'int tjDecompressHeader3(void *h, const uint8_t *buf, unsigned long size, _Out_ int *w, _Out_ int *hh, _Out_ int *subsamp, _Out_ int *cs)',
  );
  const decompress2 = lib.func(
    'int tjDecompress2(void *h, const uint8_t *buf, unsigned long size, _Out_ uint8_t *dst, int w, int pitch, int hh, int pf, int flags)',
  );
  // jpegBuf is our own buffer's address (TJFLAG_NOREALLOC): the JPEG lands in JS memory, no copy out.
  const compress2 = lib.func(
    'int tjCompress2(void *h, const uint8_t *src, int w, int pitch, int hh, int pf, uint64_t *jpegBuf, uint64_t *size, int subsamp, int q, int flags)',
  );
  const errorText = lib.func('const char *tjGetErrorStr2(void *h)') as unknown as (h: object) => string;
  const bufSize = lib.func('unsigned long tjBufSize(int w, int h, int subsamp)');
  // memmove(p, p, 0) returns p: the cheapest way to learn where a JS buffer lives.
  const memmove = koffi
    .load('libc.so.6')
    .func('uint64_t memmove(void *dst, void *src, size_t n)') as unknown as (
    a: ArrayBufferView,
    b: ArrayBufferView,
    n: number,
  ) => number | bigint;
  const dec = initDecompress();
  const enc = initCompress();
  if (!dec || !enc) return { reason: `${name}: tjInit failed` };
  const ints = [[0], [0], [0], [0]] as [number][];
  let out = Buffer.allocUnsafeSlow(0);
  const outAddress = new BigUint64Array(1);
  const outSize = new BigUint64Array(1);
  return {
    header(jpeg) {
      if (decompressHeader3(dec, jpeg, jpeg.length, ...ints) !== 0) return null;
      return { width: ints[0]![0], height: ints[1]![0], colorspace: ints[3]![0] };
    },
    decode(jpeg, header, shrink, dst) {
      const w = Math.ceil(header.width / shrink);
      const h = Math.ceil(header.height / shrink);
      if (dst.length < w * h * 3) return false;
      return (
        decompress2(
          dec,
          jpeg,
          jpeg.length,
          dst,
          w,
          w * 3,
          h,
          TJPF_RGB,
          TJFLAG_STOPONWARNING | TJFLAG_ACCURATEDCT,
        ) === 0
      );
    },
    encode(rgb, width, height, quality) {
      const need = Number(bufSize(width, height, TJSAMP_420));
      if (out.length < need) {
        // Off-heap (allocUnsafeSlow, never pooled): its address stays put for the buffer's life.
        out = Buffer.allocUnsafeSlow(need);
        outAddress[0] = BigInt(memmove(out, out, 0));
      }
      outSize[0] = BigInt(out.length);
      const rc = compress2(
        enc,
        rgb,
        width,
        width * 3,
        height,
        TJPF_RGB,
        outAddress,
        outSize,
        TJSAMP_420,
        quality,
        TJFLAG_NOREALLOC | TJFLAG_ACCURATEDCT,
      );
      if (rc !== 0) throw new Error(`JPEG encoding failed: ${errorText(enc)}`);
      return out.subarray(0, Number(outSize[0]));
    },
  };
}
