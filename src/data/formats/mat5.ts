import { inflateSync } from 'node:zlib';
import { UserError } from '../../util/errors.js';
import { readRegularFile } from '../../util/regular-file.js';

/**
 * A small reader for MATLAB level-5 MAT-files (what `save -v7` and scipy.io.savemat write), enough for the
 * IMDB-WIKI metadata and anything similar: compressed elements, structs, cells, char arrays (UTF-16 in
 * miUINT16, miUTF8, miUTF16, 8-bit), numeric classes, logicals, both byte orders. No npm reader handled
 * all of this (mat-for-js throws on a non-ASCII name and returns 16-bit chars as numbers). Sparse,
 * function-handle and opaque (class object) values are rejected with a clear error. Every length read from
 * the file is checked against the bytes that remain, so a corrupt file gives a one-line UserError rather
 * than a crash, a hang or a huge allocation.
 */

export type NumericClass =
  'double' | 'single' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64';

type NumericData =
  | Float64Array
  | Float32Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface MatNumeric {
  kind: 'numeric';
  class: NumericClass;
  dims: number[];
  /** Column-major values in the array's own class (BigInt arrays for int64/uint64). */
  real: NumericData;
  imag?: NumericData;
}
export interface MatLogical {
  kind: 'logical';
  dims: number[];
  data: Uint8Array;
}
export interface MatChar {
  kind: 'char';
  dims: number[];
  /**
   * All characters, column-major, as MATLAB stores them (one string, not one per character, so big
   * tables stay small). Use `charRows` / `matStrings` for the rows.
   */
  text: string;
}
export interface MatCell {
  kind: 'cell';
  dims: number[];
  items: MatValue[];
}
export interface MatStruct {
  kind: 'struct';
  dims: number[];
  fieldNames: string[];
  /** One record per element (column-major), field name -> value. */
  elements: Record<string, MatValue>[];
}
export type MatValue = MatNumeric | MatLogical | MatChar | MatCell | MatStruct;

// Data types of the element tags.
const miINT8 = 1;
const miUINT8 = 2;
const miINT16 = 3;
const miUINT16 = 4;
const miINT32 = 5;
const miUINT32 = 6;
const miSINGLE = 7;
const miDOUBLE = 9;
const miINT64 = 12;
const miUINT64 = 13;
const miMATRIX = 14;
const miCOMPRESSED = 15;
const miUTF8 = 16;
const miUTF16 = 17;
const miUTF32 = 18;

const TYPE_SIZE: Record<number, number> = {
  [miINT8]: 1,
  [miUINT8]: 1,
  [miINT16]: 2,
  [miUINT16]: 2,
  [miINT32]: 4,
  [miUINT32]: 4,
  [miSINGLE]: 4,
  [miDOUBLE]: 8,
  [miINT64]: 8,
  [miUINT64]: 8,
  [miUTF8]: 1,
  [miUTF16]: 2,
  [miUTF32]: 4,
};

// Array classes (mxCLASS).
const CLASS_NAMES: Record<number, NumericClass> = {
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
};
const mxCELL = 1;
const mxSTRUCT = 2;
const mxOBJECT = 3;
const mxCHAR = 4;
const mxSPARSE = 5;

const MAX_DEPTH = 64;

/** Thrown inside the parser; turned into a UserError naming the file at the top. */
class Corrupt extends Error {}

interface Element {
  type: number;
  /** Offset of the data in `buf`, and its length in bytes. */
  start: number;
  size: number;
  /** Offset of the next element. */
  next: number;
}

class Reader {
  readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    readonly le: boolean,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Reads the element tag at `pos` (normal or small data element format) and checks it fits. */
  element(pos: number, end: number): Element {
    if (pos + 8 > end) throw new Corrupt(`truncated element tag at byte ${pos}`);
    const first = this.view.getUint32(pos, this.le);
    const small = first >>> 16;
    if (small !== 0) {
      // Small data element: type and size share the first 4 bytes, data fits in the next 4.
      const type = first & 0xffff;
      if (small > 4) throw new Corrupt(`bad small element size ${small} at byte ${pos}`);
      return { type, start: pos + 4, size: small, next: pos + 8 };
    }
    const type = first;
    const size = this.view.getUint32(pos + 4, this.le);
    const start = pos + 8;
    if (size > end - start) throw new Corrupt(`element of ${size} bytes at byte ${pos} runs past the end`);
    // Compressed elements are not padded; all others are padded to 8 bytes.
    const next = type === miCOMPRESSED ? start + size : start + Math.ceil(size / 8) * 8;
    return { type, start, size, next: Math.min(next, end) };
  }

  /** Numbers of a numeric element, whatever its storage type, as JS numbers (int64 may lose precision). */
  numbers(el: Element): number[] {
    const size = TYPE_SIZE[el.type];
    if (!size || el.type === miUTF8 || el.type === miUTF16 || el.type === miUTF32)
      throw new Corrupt(`expected numeric data, found type ${el.type} at byte ${el.start - 8}`);
    if (el.size % size !== 0) throw new Corrupt(`data size ${el.size} is not a multiple of ${size}`);
    const n = el.size / size;
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = Number(this.scalar(el.type, el.start + i * size));
    return out;
  }

  scalar(type: number, at: number): number | bigint {
    const v = this.view;
    switch (type) {
      case miINT8:
        return v.getInt8(at);
      case miUINT8:
        return v.getUint8(at);
      case miINT16:
        return v.getInt16(at, this.le);
      case miUINT16:
        return v.getUint16(at, this.le);
      case miINT32:
        return v.getInt32(at, this.le);
      case miUINT32:
        return v.getUint32(at, this.le);
      case miSINGLE:
        return v.getFloat32(at, this.le);
      case miDOUBLE:
        return v.getFloat64(at, this.le);
      case miINT64:
        return v.getBigInt64(at, this.le);
      case miUINT64:
        return v.getBigUint64(at, this.le);
      default:
        throw new Corrupt(`unknown data type ${type}`);
    }
  }
}

function product(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function makeNumeric(cls: NumericClass, n: number): NumericData {
  switch (cls) {
    case 'double':
      return new Float64Array(n);
    case 'single':
      return new Float32Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
      return new Uint8Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'uint16':
      return new Uint16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'uint32':
      return new Uint32Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'uint64':
      return new BigUint64Array(n);
  }
}

/** Copies a numeric element (any storage type) into an array of the value's class. */
function fillNumeric(r: Reader, el: Element, cls: NumericClass, count: number): NumericData {
  const size = TYPE_SIZE[el.type];
  if (!size || el.type >= miUTF8) throw new Corrupt(`numeric array stored with non-numeric type ${el.type}`);
  if (el.size !== count * size)
    throw new Corrupt(`numeric array holds ${el.size} bytes, ${count} values of ${size} bytes expected`);
  const out = makeNumeric(cls, count);
  const big = out instanceof BigInt64Array || out instanceof BigUint64Array;
  for (let i = 0; i < count; i++) {
    const v = r.scalar(el.type, el.start + i * size);
    if (big) (out as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
    else (out as Float64Array)[i] = Number(v);
  }
  return out;
}

/** Whether `text` holds `count` characters, as UTF-16 code units or as code points. */
function holds(text: string, count: number): boolean {
  return text.length === count || Array.from(text).length === count;
}

function decodeChars(r: Reader, el: Element, count: number): string {
  const bytes = r.buf.subarray(el.start, el.start + el.size);
  let text: string;
  switch (el.type) {
    case miUINT16:
    case miUTF16: {
      if (el.size % 2 !== 0) throw new Corrupt(`odd byte count ${el.size} in a 16-bit char array`);
      const units = new Uint16Array(el.size >> 1);
      for (let i = 0; i < units.length; i++) units[i] = r.view.getUint16(el.start + 2 * i, r.le);
      text = '';
      for (let i = 0; i < units.length; i += 8192)
        text += String.fromCharCode(...units.subarray(i, i + 8192));
      break;
    }
    case miUTF8:
      text = new TextDecoder('utf-8').decode(bytes);
      break;
    case miUINT8:
    case miINT8:
      text = new TextDecoder('latin1').decode(bytes);
      break;
    case miUTF32:
    case miUINT32:
    case miINT32: {
      const cps: string[] = [];
      for (let i = 0; i + 4 <= el.size; i += 4) {
        const cp = r.view.getUint32(el.start + i, r.le);
        if (cp > 0x10ffff) throw new Corrupt(`bad code point ${cp} in a char array`);
        cps.push(String.fromCodePoint(cp));
      }
      text = cps.join('');
      break;
    }
    default:
      throw new Corrupt(`char array stored with type ${el.type}`);
  }
  if (!holds(text, count)) throw new Corrupt(`char array of ${count} characters holds ${text.length}`);
  return text;
}

function parseMatrix(r: Reader, el: Element, depth: number): { name: string; value: MatValue } {
  if (depth > MAX_DEPTH) throw new Corrupt('arrays nested too deeply');
  const end = el.start + el.size;
  if (el.size === 0)
    return { name: '', value: { kind: 'numeric', class: 'double', dims: [0, 0], real: new Float64Array(0) } };
  const flagsEl = r.element(el.start, end);
  if (flagsEl.type !== miUINT32 || flagsEl.size !== 8)
    throw new Corrupt(`bad array flags at byte ${el.start}`);
  const flags = r.view.getUint32(flagsEl.start, r.le);
  const cls = flags & 0xff;
  const complex = (flags & 0x800) !== 0;
  const logical = (flags & 0x200) !== 0;
  const dimsEl = r.element(flagsEl.next, end);
  if (dimsEl.type !== miINT32) throw new Corrupt(`bad dimensions at byte ${flagsEl.next}`);
  const dims = r.numbers(dimsEl);
  if (dims.length < 2 || dims.some((d) => d < 0)) throw new Corrupt(`bad dimensions [${dims.join(' ')}]`);
  const count = product(dims);
  const nameEl = r.element(dimsEl.next, end);
  if (nameEl.type !== miINT8 && nameEl.type !== miUINT8)
    throw new Corrupt(`bad array name at byte ${dimsEl.next}`);
  const name = new TextDecoder('latin1').decode(r.buf.subarray(nameEl.start, nameEl.start + nameEl.size));
  let pos = nameEl.next;

  if (cls === mxCELL) {
    // Each item needs at least an 8-byte tag: refuse counts the bytes cannot hold before allocating.
    if (count * 8 > end - pos) throw new Corrupt(`cell of ${count} items does not fit in ${end - pos} bytes`);
    const items: MatValue[] = [];
    for (let i = 0; i < count; i++) {
      const sub = r.element(pos, end);
      if (sub.type !== miMATRIX) throw new Corrupt(`cell item of type ${sub.type} at byte ${pos}`);
      items.push(parseMatrix(r, sub, depth + 1).value);
      pos = sub.next;
    }
    return { name, value: { kind: 'cell', dims, items } };
  }

  if (cls === mxSTRUCT || cls === mxOBJECT) {
    if (cls === mxOBJECT) {
      // Class name: reject, the fields of a MATLAB object are not a plain record.
      throw new Corrupt('MATLAB class objects are not supported');
    }
    const lenEl = r.element(pos, end);
    const [nameLen] = r.numbers(lenEl);
    const namesEl = r.element(lenEl.next, end);
    if (!Number.isInteger(nameLen) || nameLen! < 1 || namesEl.size % nameLen! !== 0)
      throw new Corrupt(`bad struct field names at byte ${lenEl.next}`);
    const fieldNames: string[] = [];
    for (let off = 0; off < namesEl.size; off += nameLen!) {
      const raw = r.buf.subarray(namesEl.start + off, namesEl.start + off + nameLen!);
      const zero = raw.indexOf(0);
      fieldNames.push(new TextDecoder('latin1').decode(zero < 0 ? raw : raw.subarray(0, zero)));
    }
    pos = namesEl.next;
    // Each field value needs at least an 8-byte tag; a field-less struct cannot prove its size that way,
    // so it gets a generous fixed cap instead.
    if (fieldNames.length ? count * fieldNames.length * 8 > end - pos : count > 1e6)
      throw new Corrupt(`struct of ${count} elements does not fit in ${end - pos} bytes`);
    const elements: Record<string, MatValue>[] = [];
    for (let i = 0; i < count; i++) {
      const rec: Record<string, MatValue> = Object.create(null);
      for (const f of fieldNames) {
        const sub = r.element(pos, end);
        if (sub.type !== miMATRIX) throw new Corrupt(`struct field of type ${sub.type} at byte ${pos}`);
        rec[f] = parseMatrix(r, sub, depth + 1).value;
        pos = sub.next;
      }
      elements.push(rec);
    }
    return { name, value: { kind: 'struct', dims, fieldNames, elements } };
  }

  if (cls === mxCHAR) {
    if (count === 0 && pos >= end) return { name, value: { kind: 'char', dims, text: '' } };
    const data = r.element(pos, end);
    return { name, value: { kind: 'char', dims, text: decodeChars(r, data, count) } };
  }

  if (cls === mxSPARSE) throw new Corrupt('sparse arrays are not supported');
  const numeric = CLASS_NAMES[cls];
  if (!numeric) throw new Corrupt(`unsupported array class ${cls}`);
  const realEl = r.element(pos, end);
  const real = fillNumeric(r, realEl, numeric, count);
  if (logical)
    return {
      name,
      value: { kind: 'logical', dims, data: Uint8Array.from(real as Uint8Array, (v) => (v ? 1 : 0)) },
    };
  const value: MatNumeric = { kind: 'numeric', class: numeric, dims, real };
  if (complex) value.imag = fillNumeric(r, r.element(realEl.next, end), numeric, count);
  return { name, value };
}

/** Parses a whole MAT v5 file; returns its variables by name. `file` only labels error messages. */
export function parseMat(buf: Uint8Array, file = 'MAT file'): Record<string, MatValue> {
  if (buf.length < 128) throw new UserError(`${file}: not a MAT v5 file (only ${buf.length} bytes)`);
  const head = new TextDecoder('latin1').decode(buf.subarray(0, 10));
  const endian = String.fromCharCode(buf[126]!, buf[127]!);
  if (!head.startsWith('MATLAB') || (endian !== 'IM' && endian !== 'MI')) {
    if (head.startsWith('\x89HDF') || buf[0] === 0x89)
      throw new UserError(`${file}: a MAT v7.3 (HDF5) file; save it with -v7 or read it with h5py`);
    throw new UserError(`${file}: not a MAT v5 file (no "MATLAB ... MAT-file" header)`);
  }
  const le = endian === 'IM';
  const vars: Record<string, MatValue> = Object.create(null);
  try {
    const outer = new Reader(buf, le);
    let pos = 128;
    while (pos < buf.length) {
      // Trailing padding after the last element is legal.
      if (buf.length - pos < 8 && buf.subarray(pos).every((b) => b === 0)) break;
      const el = outer.element(pos, buf.length);
      let r = outer;
      let matrix = el;
      if (el.type === miCOMPRESSED) {
        let inner: Buffer;
        try {
          inner = inflateSync(buf.subarray(el.start, el.start + el.size));
        } catch (err) {
          throw new Corrupt(`compressed element at byte ${pos} does not inflate (${(err as Error).message})`);
        }
        r = new Reader(inner, le);
        matrix = r.element(0, inner.length);
      }
      if (matrix.type === miMATRIX) {
        const { name, value } = parseMatrix(r, matrix, 0);
        vars[name] = value;
      }
      pos = el.next;
    }
  } catch (err) {
    if (err instanceof Corrupt) throw new UserError(`${file}: corrupt or truncated MAT file: ${err.message}`);
    if (err instanceof RangeError)
      throw new UserError(`${file}: corrupt or truncated MAT file: ${err.message}`);
    throw err;
  }
  return vars;
}

/** Reads and parses a MAT v5 file from disk. */
export async function readMat(file: string): Promise<Record<string, MatValue>> {
  const buf = await readRegularFile(file);
  return parseMat(buf, file);
}

/** The rows of a char array as strings (MATLAB pads rows of a 2-D char array with spaces; kept). */
export function charRows(v: MatChar): string[] {
  const [rows = 0, cols = 0] = v.dims;
  const pages = product(v.dims.slice(2));
  if (rows === 1 && pages === 1) return [v.text];
  const chars = v.text.length === product(v.dims) ? v.text.split('') : Array.from(v.text);
  const out: string[] = [];
  for (let k = 0; k < pages; k++)
    for (let i = 0; i < rows; i++) {
      let s = '';
      for (let j = 0; j < cols; j++) s += chars[k * rows * cols + i + j * rows];
      out.push(s);
    }
  return out;
}

/** A value as a flat list of numbers (numeric or logical; int64 may lose precision). */
export function matNumbers(v: MatValue, what = 'value'): number[] {
  if (v.kind === 'numeric') return Array.from(v.real as ArrayLike<number | bigint>, Number);
  if (v.kind === 'logical') return Array.from(v.data);
  throw new UserError(`${what}: expected a numeric array, found ${v.kind}`);
}

/**
 * A value as a flat list of strings: a cell of char arrays gives one string per cell (column-major);
 * a char array gives one string per row. An empty cell item gives ''.
 */
export function matStrings(v: MatValue, what = 'value'): string[] {
  if (v.kind === 'char') return charRows(v);
  if (v.kind === 'cell')
    return v.items.map((item, i) => {
      if (item.kind === 'char') return charRows(item).join('');
      if (item.kind === 'numeric' && item.real.length === 0) return '';
      throw new UserError(`${what}: item ${i + 1} is ${item.kind}, not text`);
    });
  throw new UserError(`${what}: expected text (char array or cell of them), found ${v.kind}`);
}
