import { fromFloat16BitsInto } from './float16.js';

/**
 * The float32 weights of a tfjs weights manifest, read without tfjs's loader: each as its shape and a
 * function that writes its values, so that they are decoded only when a tensor is filled, straight into its
 * memory (infer/filled-tensor.ts). The bundle's network (float32 or float16) and face-api's SSD detector
 * (uint8-quantized) are both read through here. Values are tfjs's: float16 by bit shifts (float16.ts), a
 * quantized q as q * scale + min, as its decodeWeights computes.
 */

/** One entry of a manifest group's `weights`. */
export interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

/** A weight's shape, and how to write its float32 values. */
export interface ManifestWeight {
  shape: number[];
  fill: (out: Float32Array) => void;
}

/**
 * One group's float32 weights by name, from its files' bytes concatenated in order. Entries of another
 * dtype (int32) are skipped. Throws naming the weight on a quantization other than float16, uint8 or
 * uint16, a name given twice, or bytes too few.
 */
export function manifestWeights(
  entries: readonly ManifestEntry[],
  data: Uint8Array,
): Map<string, ManifestWeight> {
  const out = new Map<string, ManifestWeight>();
  let offset = 0;
  for (const w of entries) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const q = w.quantization;
    const width = q ? (q.dtype === 'uint8' ? 1 : q.dtype === 'uint16' || q.dtype === 'float16' ? 2 : 4) : 4;
    const bytes = n * width;
    if (offset + bytes > data.byteLength) throw new Error(`weights: the file is too short for ${w.name}`);
    const at = offset;
    offset += bytes;
    if (w.dtype !== 'float32') continue;
    if (out.has(w.name)) throw new Error(`weights: ${w.name} is listed twice`);
    /** The stored values as a typed array: a view where aligned, else a copy (a Node Buffer's bytes may not be). */
    const stored = <T>(Type: new (b: ArrayBuffer, o?: number, n?: number) => T): T => {
      const start = data.byteOffset + at;
      return start % width === 0
        ? new Type(data.buffer as ArrayBuffer, start, n)
        : new Type(new Uint8Array(data.subarray(at, at + bytes)).buffer);
    };
    let fill: (o: Float32Array) => void;
    if (!q) fill = (o) => o.set(stored(Float32Array));
    else if (q.dtype === 'float16') fill = (o) => fromFloat16BitsInto(stored(Uint16Array), o);
    else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
      const [scale, min] = [q.scale ?? 1, q.min ?? 0];
      fill = (o) => {
        const v = q.dtype === 'uint8' ? stored(Uint8Array) : stored(Uint16Array);
        for (let i = 0; i < v.length; i++) o[i] = v[i]! * scale + min;
      };
    } else
      throw new Error(`weights: ${w.name} is stored as ${q.dtype}, not float32, float16, uint8 or uint16`);
    out.set(w.name, { shape: w.shape, fill });
  }
  return out;
}
