// The encoding pieces of a WebAssembly binary, for the few tiny modules assembled by hand byte by byte
// (engine/adam-simd.ts, data/reduce-simd.ts): no toolchain in the build, and a module of a few hundred bytes.

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

/** Unsigned LEB128, WebAssembly's integer encoding. */
export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** A name (ASCII only). */
export const str = (s: string) => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
export const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
export const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
/** local.get, local.set, and a SIMD opcode. */
export const get = (l: number) => [0x20, ...leb(l)];
export const set = (l: number) => [0x21, ...leb(l)];
export const simd = (op: number) => [0xfd, ...leb(op)];
