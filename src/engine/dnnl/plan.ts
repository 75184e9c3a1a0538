import { DNNL, type DnnlApi, type Handle } from './library.js';

/**
 * A oneDNN primitive ready to run on tensors in place: the primitive, its memory objects, and the
 * reorders between the tensors' plain layout (NHWC, HWIO, row-major) and the blocked layout the
 * primitive prefers where it is asked to pick one (format_tag_any: a convolution's weights, measured about
 * twice as fast as plain HWIO ones). Built once per shape and kept in a cache.
 */

export class DnnlError extends Error {}

export function check(status: number, what: string): void {
  if (status !== 0) throw new DnnlError(`oneDNN ${what} failed (status ${status})`);
}

/** Engine and stream of the process (oneDNN CPU engine, one in-order stream on the main thread). */
export class DnnlContext {
  readonly engine: Handle;
  readonly stream: Handle;
  private readonly scratch: Array<{ buf: Buffer; address: number }> = [];

  constructor(readonly api: DnnlApi) {
    const e: [Handle | null] = [null];
    check(api.engine_create(e, DNNL.cpu, 0), 'engine_create');
    this.engine = e[0]!;
    const s: [Handle | null] = [null];
    check(api.stream_create(s, this.engine, DNNL.streamDefault), 'stream_create');
    this.stream = s[0]!;
  }

  /**
   * Address of at least `bytes` of 64-byte-aligned native memory for reorder slot `slot`. Primitives run
   * one at a time, so every plan shares these buffers for its blocked copies.
   */
  scratchAddress(slot: number, bytes: number): number {
    const have = this.scratch[slot];
    if (have && have.buf.length >= bytes + 64) return have.address;
    const fresh = alignedMemory(this.api, Math.ceil(bytes * 1.25));
    this.scratch[slot] = fresh;
    return fresh.address;
  }
}

/** At least `bytes` of native memory at a 64-byte-aligned address (keep `buf` alive while it is used). */
export function alignedMemory(api: DnnlApi, bytes: number): { buf: Buffer; address: number } {
  const buf = Buffer.allocUnsafeSlow(bytes + 64);
  const raw = api.addressOf(buf);
  return { buf, address: raw + ((64 - (raw % 64)) % 64) };
}

/** A dnnl_dims_t argument. */
export const toDims = (values: number[]) => BigInt64Array.from(values.map(BigInt));

/** A plain (strided) f32 memory descriptor: `dims` in oneDNN's logical order, `strides` in elements. */
export function plainMd(api: DnnlApi, dims: number[], strides: number[], dtype: number = DNNL.f32): Buffer {
  const md = Buffer.alloc(DNNL.MD_BYTES);
  check(
    api.memory_desc_init_by_strides(md, dims.length, toDims(dims), dtype, toDims(strides)),
    'memory_desc_init_by_strides',
  );
  return md;
}

/** A memory descriptor of `dims` that lets the primitive choose the layout. */
export function anyMd(api: DnnlApi, dims: number[], dtype: number = DNNL.f32): Buffer {
  const md = Buffer.alloc(DNNL.MD_BYTES);
  check(
    api.memory_desc_init_by_tag(md, dims.length, toDims(dims), dtype, DNNL.formatTagAny),
    'memory_desc_init_by_tag',
  );
  return md;
}

/** One tensor argument of a plan. */
export interface PlanArg {
  /** DNNL_ARG_* of the primitive. */
  arg: number;
  /**
   * dnnl_query_*_md (and index: bias is weights #1) that gives the layout the primitive chose; none for
   * a primitive given plain layouts only (element-wise ones), which reads and writes the tensor as is.
   */
  query?: number;
  index?: number;
  /** The tensor's own (plain) layout. */
  user: Buffer;
  /** Read by the primitive, or written. */
  output: boolean;
  /**
   * No tensor behind it: the primitive's own memory (its `query` layout) in the context's scratch buffer
   * `slot` (a max pool's workspace, passed from its forward to its backward). Its address in `run` is ignored.
   */
  scratch?: number;
}

interface Bound {
  user: Handle;
  scratch?: { slot: number; bytes: number };
  /** Blocked copy and its reorder, when the primitive's layout differs from the tensor's. */
  inner?: { mem: Handle; reorder: Handle; args: Buffer; bytes: number };
  output: boolean;
}

/** A dnnl_exec_arg_t array of (argument, memory) pairs. */
export function execArgs(api: DnnlApi, pairs: Array<[number, Handle]>): Buffer {
  const buf = Buffer.alloc(pairs.length * DNNL.EXEC_ARG_BYTES);
  pairs.forEach(([arg, mem], i) => {
    buf.writeInt32LE(arg, i * DNNL.EXEC_ARG_BYTES);
    buf.writeBigUInt64LE(api.handleAddress(mem), i * DNNL.EXEC_ARG_BYTES + 8);
  });
  return buf;
}

export class Plan {
  private readonly prim: Handle;
  private readonly args: Buffer;
  private readonly bound: Bound[];
  private disposed = false;

  /**
   * `desc` is an initialised operation descriptor; `hint` the forward primitive descriptor a backward
   * one needs. An argument whose `user` layout the primitive accepts as is gets no reorder.
   */
  constructor(
    private readonly ctx: DnnlContext,
    desc: Buffer,
    args: PlanArg[],
    opts: { attr?: Handle | null; hint?: Handle | null } = {},
  ) {
    const api = ctx.api;
    const pdOut: [Handle | null] = [null];
    check(
      api.primitive_desc_create(pdOut, desc, opts.attr ?? null, ctx.engine, opts.hint ?? null),
      'primitive_desc_create',
    );
    const pd = pdOut[0]!;
    try {
      const primOut: [Handle | null] = [null];
      check(api.primitive_create(primOut, pd), 'primitive_create');
      this.prim = primOut[0]!;
      const pairs: Array<[number, Handle]> = [];
      this.bound = args.map((a) => {
        if (a.query === undefined) {
          const user = memory(api, ctx, a.user);
          pairs.push([a.arg, user]);
          return { user, output: a.output };
        }
        const chosen = api.primitive_desc_query_md(pd, a.query, a.index ?? 0);
        if (!chosen) throw new DnnlError(`oneDNN: no memory descriptor for argument ${a.arg}`);
        if (a.scratch !== undefined) {
          const mem = memory(api, ctx, chosen);
          pairs.push([a.arg, mem]);
          const bytes = api.memory_desc_get_size(chosen);
          return { user: mem, output: a.output, scratch: { slot: a.scratch, bytes } };
        }
        const user = memory(api, ctx, a.user);
        if (api.memory_desc_equal(chosen, a.user)) {
          pairs.push([a.arg, user]);
          return { user, output: a.output };
        }
        const mem = memory(api, ctx, chosen);
        const [from, to] = a.output ? [chosen, a.user] : [a.user, chosen];
        const bytes = api.memory_desc_get_size(chosen);
        const reorder = onOneThread(api, () => reorderPrimitive(ctx, from, to), bytes);
        const [src, dst] = a.output ? [mem, user] : [user, mem];
        pairs.push([a.arg, mem]);
        return {
          user,
          output: a.output,
          inner: {
            mem,
            reorder,
            args: execArgs(api, [
              [DNNL.ARG_FROM, src],
              [DNNL.ARG_TO, dst],
            ]),
            bytes,
          },
        };
      });
      this.args = execArgs(api, pairs);
      this.nargs = pairs.length;
    } finally {
      api.primitive_desc_destroy(pd);
    }
  }

  private readonly nargs: number;

  /**
   * Bytes of the primitive's own layout of input `i`, or 0 when it reads the tensor as is. A caller
   * that runs the plan many times on the same input (a model's weights) can reorder it once with
   * `reorderInput` and pass the copy to `run`.
   */
  reorderedBytes(i: number): number {
    const b = this.bound[i];
    return b?.inner && !b.output ? b.inner.bytes : 0;
  }

  /** Writes input `i` (plain, at `from`) in the primitive's layout to `to` (reorderedBytes(i) bytes). */
  reorderInput(i: number, from: number, to: number): void {
    const { api, stream } = this.ctx;
    const b = this.bound[i]!;
    if (!b.inner || b.output) throw new DnnlError(`oneDNN plan: argument ${i} has no input reorder`);
    check(api.memory_set_data_handle(b.user, from), 'set_data_handle');
    check(api.memory_set_data_handle(b.inner.mem, to), 'set_data_handle');
    check(api.primitive_execute(b.inner.reorder, stream, 2, b.inner.args), 'reorder');
    check(api.stream_wait(stream), 'stream_wait');
  }

  /**
   * Runs on data at the given native addresses, one per argument in the constructor's order.
   * `reordered[i]`, where given, is input i already in the primitive's layout (see reorderInput).
   */
  run(addresses: number[], reordered: Array<number | undefined> = []): void {
    const { api, stream } = this.ctx;
    if (this.disposed) throw new DnnlError('oneDNN plan used after dispose');
    this.bound.forEach((b, i) => {
      const at = b.scratch ? this.ctx.scratchAddress(b.scratch.slot, b.scratch.bytes) : addresses[i]!;
      check(api.memory_set_data_handle(b.user, at), 'set_data_handle');
      if (b.inner) {
        const inner = reordered[i] ?? this.ctx.scratchAddress(i, b.inner.bytes);
        check(api.memory_set_data_handle(b.inner.mem, inner), 'set_data_handle');
      }
    });
    this.bound.forEach((b, i) => {
      if (b.inner && !b.output && reordered[i] === undefined) this.reorder(b.inner);
    });
    check(api.primitive_execute(this.prim, stream, this.nargs, this.args), 'primitive_execute');
    for (const b of this.bound) if (b.inner && b.output) this.reorder(b.inner);
    check(api.stream_wait(stream), 'stream_wait');
  }

  /** Runs a copy between layouts, a small one on one thread (see ONE_THREAD_BYTES). */
  private reorder(inner: { reorder: Handle; args: Buffer; bytes: number }): void {
    const { api, stream } = this.ctx;
    const run = () => check(api.primitive_execute(inner.reorder, stream, 2, inner.args), 'reorder');
    onOneThread(api, run, inner.bytes);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const api = this.ctx.api;
    api.primitive_destroy(this.prim);
    for (const b of this.bound) {
      api.memory_destroy(b.user);
      if (b.inner) {
        api.primitive_destroy(b.inner.reorder);
        api.memory_destroy(b.inner.mem);
      }
    }
  }
}

/**
 * Memory-bound work (element-wise kernels, batch norm, copies between layouts) on up to this many bytes is
 * built and run on the calling thread alone: each primitive meets its second thread at a barrier or more,
 * and waking it (a futex; on a VM an interrupt to another virtual CPU) cost more than the pass. oneDNN
 * fixes some primitives' threads when they are created, so plans are built that way too. resnet-xs
 * training at 64 px, batch 32, on a shared 2-core VM: a batch norm over 32x8x8x64 took 110-180 us on one
 * thread, ~300 us on two; the step's element-wise and batch-norm kernels 16-21 -> 12-15 ms, its 44 weight
 * reorders 4.7-8.4 -> 1.9-2.5 ms.
 */
const ONE_THREAD_BYTES = 1 << 20;

/** Runs `fn` with oneDNN's OpenMP on the calling thread alone (always, or when `bytes` is small). */
export function onOneThread<T>(api: DnnlApi, fn: () => T, bytes = 0): T {
  const threads = api.maxThreads?.() ?? 1;
  if (threads === 1 || bytes > ONE_THREAD_BYTES) return fn();
  api.setThreads?.(1);
  try {
    return fn();
  } finally {
    api.setThreads?.(threads);
  }
}

/** A primitive that copies memory laid out as `from` into memory laid out as `to`. */
export function reorderPrimitive(ctx: DnnlContext, from: Buffer | Handle, to: Buffer | Handle): Handle {
  const api = ctx.api;
  const pd: [Handle | null] = [null];
  check(api.reorder_primitive_desc_create(pd, from, ctx.engine, to, ctx.engine, null), 'reorder pd');
  const prim: [Handle | null] = [null];
  const status = api.primitive_create(prim, pd[0]!);
  api.primitive_desc_destroy(pd[0]!);
  check(status, 'reorder primitive_create');
  return prim[0]!;
}

/** A memory object of layout `md` without data of its own (its data handle is set before each run). */
export function memory(api: DnnlApi, ctx: DnnlContext, md: Buffer | Handle): Handle {
  const out: [Handle | null] = [null];
  // No buffer of its own: data handles are set before every run.
  check(api.memory_create(out, md, ctx.engine, 0), 'memory_create');
  return out[0]!;
}

/** Plans by key, least recently used dropped past `limit` (a few per layer shape in practice). */
export class PlanCache {
  private readonly plans = new Map<string, { dispose(): void }>();
  constructor(private readonly limit = 512) {}

  get<T extends { dispose(): void }>(key: string, build: () => T): T {
    const hit = this.plans.get(key);
    if (hit) {
      this.plans.delete(key);
      this.plans.set(key, hit);
      return hit as T;
    }
    const plan = build();
    this.plans.set(key, plan);
    if (this.plans.size > this.limit) {
      const [oldKey, old] = this.plans.entries().next().value as [string, { dispose(): void }];
      this.plans.delete(oldKey);
      old.dispose();
    }
    return plan;
  }

  get size(): number {
    return this.plans.size;
  }

  clear(): void {
    for (const p of this.plans.values()) p.dispose();
    this.plans.clear();
  }
}
