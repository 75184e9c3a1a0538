/**
 * Adam's update as a tiny WebAssembly function (128-bit SIMD, four floats per instruction) that runs on
 * the wasm backend's own heap: it imports the backend's shared memory, so it reads the weights, gradients
 * and moments where they lie and writes the moments in place and the new weights to a fresh tensor.
 *
 * Why: the update is one pass over every parameter, and as a JS loop (float64, scalar) it took 9% of a
 * training step of the default model's 10.5M-parameter network, as long as a third of its backward
 * convolutions. Here it is float32 arithmetic in tf.train.adam's own order, op for op (each tfjs op rounds
 * to float32), so the result is the stock optimizer's:
 *   m' = m * b1 + g * (1 - b1);  v' = v * b2 + (g * g) * (1 - b2);
 *   w' = ((m' / c1) / (sqrt(v' / c2) + eps)) * -lr + w          (c1 = 1 - b1^t, c2 = 1 - b2^t)
 *
 * The module is assembled here byte by byte (no toolchain needed); it is 200 bytes.
 */

import { F32, I32, V128, get, leb, section, set, simd, str, vec } from '../util/wasm-bytes.js';

/** (w, g, m, v, out, bytes: i32; -lr, b1, 1 - b1, b2, 1 - b2, c1, c2, eps: f32), byte counts a multiple of 16. */
export type AdamFn = (
  w: number,
  g: number,
  m: number,
  v: number,
  out: number,
  bytes: number,
  negLr: number,
  b1: number,
  oneMinusB1: number,
  b2: number,
  oneMinusB2: number,
  c1: number,
  c2: number,
  eps: number,
) => void;

// Parameters 0-5 (i32): w, g, m, v, out, bytes; 6-13 (f32): negLr, b1, omb1, b2, omb2, c1, c2, eps.
// Locals: 14 = i (i32); 15-22 = the eight f32 parameters splatted (v128); 23 = g, 24 = m', 25 = v'.
const P = { w: 0, g: 1, m: 2, v: 3, out: 4, bytes: 5 };
const I = 14;
const S = (param: number) => 15 + (param - 6); // splat of f32 parameter `param`
const [NLR, B1, OMB1, B2, OMB2, C1, C2, EPS] = [6, 7, 8, 9, 10, 11, 12, 13];
const G = 23;
const MK = 24;
const VK = 25;

const load = [...simd(0x00), 0x02, 0x00]; // v128.load align=4 offset=0
const store = [...simd(0x0b), 0x02, 0x00]; // v128.store
const [splat, sqrt, add, mul, div] = [0x13, 0xe3, 0xe4, 0xe6, 0xe7].map(simd);
const at = (ptr: number) => [...get(ptr), ...get(I), 0x6a]; // ptr + i

// prettier-ignore
const body = [
  // splat the scalars once
  ...[NLR, B1, OMB1, B2, OMB2, C1, C2, EPS].flatMap((p) => [...get(p), ...splat!, ...set(S(p))]),
  0x02, 0x40, // block
  0x03, 0x40, // loop
  ...get(I), ...get(P.bytes), 0x4f, 0x0d, 0x01, // if i >= bytes: break
  ...at(P.g), ...load, ...set(G),
  // m' = m * b1 + g * (1 - b1), stored in place
  ...at(P.m), ...load, ...get(S(B1)), ...mul!, ...get(G), ...get(S(OMB1)), ...mul!, ...add!, ...set(MK),
  ...at(P.m), ...get(MK), ...store,
  // v' = v * b2 + (g * g) * (1 - b2), stored in place
  ...at(P.v), ...load, ...get(S(B2)), ...mul!, ...get(G), ...get(G), ...mul!, ...get(S(OMB2)), ...mul!, ...add!,
  ...set(VK),
  ...at(P.v), ...get(VK), ...store,
  // out = ((m' / c1) / (sqrt(v' / c2) + eps)) * -lr + w
  ...at(P.out),
  ...get(MK), ...get(S(C1)), ...div!,
  ...get(VK), ...get(S(C2)), ...div!, ...sqrt!, ...get(S(EPS)), ...add!,
  ...div!, ...get(S(NLR)), ...mul!,
  ...at(P.w), ...load, ...add!,
  ...store,
  ...get(I), 0x41, 0x10, 0x6a, ...set(I), // i += 16
  0x0c, 0x00, // continue
  0x0b, // end loop
  0x0b, // end block
  0x0b, // end function
];

/** The module, importing a shared memory (the threaded backend's) or a plain one. */
// prettier-ignore
const moduleBytes = (shared: boolean) => new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], ...Array(8).fill([F32])]), 0x00]])),
  // the backend's memory (a shared one must declare a maximum: 4 GiB)
  ...section(2, vec([[...str('env'), ...str('memory'), 0x02, ...(shared ? [0x03, ...leb(1), ...leb(65536)] : [0x00, ...leb(1)])]])),
  ...section(3, vec([[0x00]])),
  ...section(7, vec([[...str('adam'), 0x00, 0x00]])),
  ...section(
    10,
    vec([
      (() => {
        const locals = vec([
          [1, I32],
          [11, V128],
        ]);
        const code = [...locals, ...body];
        return [...leb(code.length), ...code];
      })(),
    ]),
  ),
]);

const instances = new WeakMap<WebAssembly.Memory, AdamFn | null>();

/**
 * The backend's heap: the threaded build exports it as `wasmMemory`, the single-threaded one only as the
 * instance's `memory` export.
 */
export function heapMemory(wasm: {
  wasmMemory?: WebAssembly.Memory;
  asm?: { memory?: WebAssembly.Memory };
}): WebAssembly.Memory | undefined {
  return wasm.wasmMemory ?? wasm.asm?.memory;
}

/** The update bound to `memory` (the wasm backend's heap), or null where SIMD is unavailable. */
export function simdAdam(memory: WebAssembly.Memory | undefined): AdamFn | null {
  if (!memory) return null;
  let fn = instances.get(memory);
  if (fn !== undefined) return fn;
  try {
    const bytes = moduleBytes(memory.buffer instanceof SharedArrayBuffer);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    fn = instance.exports['adam'] as AdamFn;
  } catch {
    fn = null;
  }
  instances.set(memory, fn);
  return fn;
}
