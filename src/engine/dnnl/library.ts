import { createRequire } from 'node:module';

/**
 * Finds oneDNN (libdnnl, the library behind PyTorch's CPU convolutions) and binds the few functions of
 * its C API our kernels call, through koffi (an FFI whose binaries ship in its npm package: no
 * compiler, no download). Both are optional: without them `loadDnnl` says why and the wasm kernels run.
 *
 * Only the oneDNN 2.x C API is bound (libdnnl.so.2: Debian 12, Ubuntu 22.04, `apt-get install libdnnl2`);
 * 3.x changed it (operation descriptors were folded into primitive-descriptor constructors).
 */

/** Opaque C handle (koffi external). */
export type Handle = object;

/** The C functions we call; every one returns a dnnl_status_t (0 = success) unless noted. */
export interface DnnlApi {
  version: string;
  /** dnnl_get_effective_cpu_isa(): a bit mask, e.g. 7 = avx2, 231 = avx512_core_bf16. */
  cpuIsa: number;
  /** omp_set_num_threads when oneDNN was built on OpenMP (Debian's is), else undefined. */
  setThreads: ((n: number) => void) | undefined;
  /** omp_get_max_threads, with setThreads. */
  maxThreads: (() => number) | undefined;
  /** Address of a typed array's first byte (its view offset included), for handing heaps to C. */
  addressOf(view: ArrayBufferView): number;
  /** The numeric value of a C pointer (for argument arrays built by hand). */
  handleAddress(h: Handle): bigint;
  engine_create(out: [Handle | null], kind: number, index: number): number;
  stream_create(out: [Handle | null], engine: Handle, flags: number): number;
  stream_wait(stream: Handle): number;
  memory_desc_init_by_strides(
    md: Buffer,
    ndims: number,
    dims: BigInt64Array,
    dt: number,
    strides: BigInt64Array,
  ): number;
  memory_desc_init_by_tag(md: Buffer, ndims: number, dims: BigInt64Array, dt: number, tag: number): number;
  memory_desc_equal(a: Buffer | Handle, b: Buffer | Handle): number;
  memory_desc_get_size(md: Buffer | Handle): number;
  memory_create(out: [Handle | null], md: Buffer | Handle, engine: Handle, handle: number | bigint): number;
  memory_set_data_handle(mem: Handle, handle: number | bigint): number;
  memory_destroy(mem: Handle): number;
  dilated_convolution_forward_desc_init(
    desc: Buffer,
    prop: number,
    alg: number,
    src: Buffer,
    weights: Buffer,
    bias: Buffer | null,
    dst: Buffer,
    strides: BigInt64Array,
    dilates: BigInt64Array,
    padL: BigInt64Array,
    padR: BigInt64Array,
  ): number;
  dilated_convolution_backward_data_desc_init(
    desc: Buffer,
    alg: number,
    diffSrc: Buffer,
    weights: Buffer,
    diffDst: Buffer,
    strides: BigInt64Array,
    dilates: BigInt64Array,
    padL: BigInt64Array,
    padR: BigInt64Array,
  ): number;
  dilated_convolution_backward_weights_desc_init(
    desc: Buffer,
    alg: number,
    src: Buffer,
    diffWeights: Buffer,
    diffBias: Buffer | null,
    diffDst: Buffer,
    strides: BigInt64Array,
    dilates: BigInt64Array,
    padL: BigInt64Array,
    padR: BigInt64Array,
  ): number;
  matmul_desc_init(desc: Buffer, src: Buffer, weights: Buffer, bias: Buffer | null, dst: Buffer): number;
  eltwise_forward_desc_init(
    desc: Buffer,
    prop: number,
    alg: number,
    data: Buffer,
    alpha: number,
    beta: number,
  ): number;
  eltwise_backward_desc_init(
    desc: Buffer,
    alg: number,
    diffData: Buffer,
    data: Buffer,
    alpha: number,
    beta: number,
  ): number;
  binary_desc_init(desc: Buffer, alg: number, src0: Buffer, src1: Buffer, dst: Buffer): number;
  pooling_v2_forward_desc_init(
    desc: Buffer,
    prop: number,
    alg: number,
    src: Buffer,
    dst: Buffer,
    strides: BigInt64Array,
    kernel: BigInt64Array,
    dilation: BigInt64Array,
    padL: BigInt64Array,
    padR: BigInt64Array,
  ): number;
  pooling_v2_backward_desc_init(
    desc: Buffer,
    alg: number,
    diffSrc: Buffer,
    diffDst: Buffer,
    strides: BigInt64Array,
    kernel: BigInt64Array,
    dilation: BigInt64Array,
    padL: BigInt64Array,
    padR: BigInt64Array,
  ): number;
  batch_normalization_forward_desc_init(
    desc: Buffer,
    prop: number,
    data: Buffer,
    eps: number,
    flags: number,
  ): number;
  batch_normalization_backward_desc_init(
    desc: Buffer,
    prop: number,
    diffData: Buffer,
    data: Buffer,
    eps: number,
    flags: number,
  ): number;
  primitive_desc_create(
    out: [Handle | null],
    desc: Buffer,
    attr: Handle | null,
    engine: Handle,
    hint: Handle | null,
  ): number;
  /** Returns a pointer into the primitive descriptor (not a status). */
  primitive_desc_query_md(pd: Handle, what: number, index: number): Handle | null;
  primitive_desc_destroy(pd: Handle): number;
  reorder_primitive_desc_create(
    out: [Handle | null],
    src: Buffer | Handle,
    srcEngine: Handle,
    dst: Buffer | Handle,
    dstEngine: Handle,
    attr: Handle | null,
  ): number;
  primitive_create(out: [Handle | null], pd: Handle): number;
  primitive_execute(prim: Handle, stream: Handle, nargs: number, args: Buffer): number;
  primitive_destroy(prim: Handle): number;
  primitive_attr_create(out: [Handle | null]): number;
  primitive_attr_destroy(attr: Handle): number;
  primitive_attr_set_post_ops(attr: Handle, ops: Handle): number;
  primitive_attr_set_fpmath_mode(attr: Handle, mode: number): number;
  post_ops_create(out: [Handle | null]): number;
  post_ops_destroy(ops: Handle): number;
  post_ops_append_eltwise(ops: Handle, scale: number, alg: number, alpha: number, beta: number): number;
}

/** Sizes and enum values of the oneDNN 2.x C API (dnnl_types.h of 2.6; stable across 2.x). */
export const DNNL = {
  /** sizeof(dnnl_memory_desc_t) is 696 in 2.6; room to spare for other 2.x builds. */
  MD_BYTES: 2048,
  /** Largest operation descriptor (convolution: 5976); rounded up. */
  OP_DESC_BYTES: 8192,
  EXEC_ARG_BYTES: 16,
  f32: 3,
  bf16: 2,
  cpu: 1,
  streamDefault: 1,
  forwardTraining: 64,
  forwardInference: 96,
  backwardData: 160,
  backwardWeights: 192,
  /** dnnl_backward: data and weights gradients at once (batch norm's dx, dscale, dshift). */
  backward: 128,
  convolutionDirect: 1,
  formatTagAny: 1,
  eltwiseRelu: 31,
  eltwiseClip: 255,
  eltwiseElu: 63,
  eltwiseLogistic: 175,
  fpmathBf16: 1,
  ARG_SRC: 1,
  ARG_DST: 17,
  ARG_WEIGHTS: 33,
  ARG_BIAS: 41,
  ARG_DIFF_SRC: 129,
  ARG_DIFF_DST: 145,
  ARG_DIFF_WEIGHTS: 161,
  ARG_SRC_1: 2,
  ARG_MEAN: 49,
  ARG_VARIANCE: 50,
  ARG_SCALE: 51,
  ARG_SHIFT: 52,
  ARG_DIFF_SCALE: 255,
  ARG_DIFF_SHIFT: 256,
  binaryAdd: 0x1fff0,
  poolingMax: 0x1ff,
  poolingAvgIncludePadding: 0x2ff,
  ARG_WORKSPACE: 64,
  queryWorkspace: 135,
  useGlobalStats: 0x1,
  useScale: 0x8,
  useShift: 0x10,
  ARG_FROM: 1,
  ARG_TO: 17,
  querySrc: 129,
  queryDiffSrc: 130,
  queryWeights: 131,
  queryDiffWeights: 132,
  queryDst: 133,
  queryDiffDst: 134,
  /** dnnl_cpu_isa_t masks: AVX2, AVX-512 core, AVX-512 with the bf16 instructions. */
  isaAvx2: 7,
  isaAvx512Core: 39,
  isaAvx512CoreBf16: 231,
} as const;

/** Library names tried in order, unless AGEGENDER_DNNL_LIB names one (a path or soname). */
const CANDIDATES = ['libdnnl.so.2'];

const require = createRequire(import.meta.url);

interface Koffi {
  load(path: string): { func(decl: string): (...args: unknown[]) => unknown };
}

/** Binds the library, or returns why it cannot. */
export function loadDnnl(): DnnlApi | { reason: string } {
  let koffi: Koffi;
  try {
    koffi = require('koffi') as Koffi;
  } catch {
    return { reason: 'the koffi package (FFI) is not installed' };
  }
  const tried: string[] = [];
  // A library named in AGEGENDER_DNNL_LIB is the only one tried (so that a wrong one is not papered over).
  const names = process.env.AGEGENDER_DNNL_LIB ? [process.env.AGEGENDER_DNNL_LIB] : CANDIDATES;
  for (const name of names) {
    let lib: ReturnType<Koffi['load']>;
    try {
      lib = withPassiveOmp(() => koffi.load(name));
    } catch (err) {
      tried.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    try {
      return bind(koffi, lib);
    } catch (err) {
      tried.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { reason: `oneDNN not found (apt-get install libdnnl2); tried ${tried.join('; ')}` };
}

/**
 * oneDNN's OpenMP threads spin for a while after each primitive by default, stealing the cores the wasm
 * thread pool needs for the element-wise kernels that come next. libgomp reads OMP_WAIT_POLICY once, when
 * it is loaded: so PASSIVE is set only for the load (unless the user set a policy) and removed right after,
 * leaving the host process's environment as it was. A user's own OMP_WAIT_POLICY is used as is.
 */
function withPassiveOmp<T>(load: () => T): T {
  if (process.env.OMP_WAIT_POLICY !== undefined) return load();
  process.env.OMP_WAIT_POLICY = 'PASSIVE';
  try {
    return load();
  } finally {
    delete process.env.OMP_WAIT_POLICY;
  }
}

function bind(koffi: Koffi, lib: ReturnType<Koffi['load']>): DnnlApi {
  const f = (decl: string) => lib.func(decl) as never;
  const versionOf = lib.func('const int *dnnl_version()') as () => object;
  const decoded = (koffi as unknown as { decode(p: object, t: string, n: number): number[] }).decode(
    versionOf(),
    'int',
    3,
  );
  const [major, minor, patch] = decoded as [number, number, number];
  if (major !== 2) throw new Error(`oneDNN ${major}.${minor}.${patch}: only the 2.x C API is supported`);
  let setThreads: ((n: number) => void) | undefined;
  let maxThreads: (() => number) | undefined;
  try {
    const gomp = koffi.load('libgomp.so.1');
    setThreads = gomp.func('void omp_set_num_threads(int n)') as (n: number) => void;
    maxThreads = gomp.func('int omp_get_max_threads()') as () => number;
  } catch {
    setThreads = undefined;
    maxThreads = undefined;
  }
  const libc = koffi.load('libc.so.6');
  // memmove(p, p, 0) returns p: the cheapest way to learn where a JS buffer lives.
  const memmove = libc.func('uintptr_t memmove(void *dst, void *src, size_t n)') as (
    a: ArrayBufferView,
    b: ArrayBufferView,
    n: number,
  ) => number | bigint;
  return {
    version: `${major}.${minor}.${patch}`,
    cpuIsa: (lib.func('int dnnl_get_effective_cpu_isa()') as () => number)(),
    setThreads,
    maxThreads,
    addressOf: (view) => Number(memmove(view, view, 0)),
    handleAddress: (h) => (koffi as unknown as { address(p: object): bigint }).address(h),
    engine_create: f('int dnnl_engine_create(_Out_ void **engine, int kind, size_t index)'),
    stream_create: f('int dnnl_stream_create(_Out_ void **stream, void *engine, unsigned int flags)'),
    stream_wait: f('int dnnl_stream_wait(void *stream)'),
    memory_desc_init_by_strides: f(
      'int dnnl_memory_desc_init_by_strides(void *md, int ndims, int64_t *dims, int dt, int64_t *strides)',
    ),
    memory_desc_init_by_tag: f(
      'int dnnl_memory_desc_init_by_tag(void *md, int ndims, int64_t *dims, int dt, int tag)',
    ),
    memory_desc_equal: f('int dnnl_memory_desc_equal(void *a, void *b)'),
    memory_desc_get_size: f('size_t dnnl_memory_desc_get_size(void *md)'),
    memory_create: f('int dnnl_memory_create(_Out_ void **mem, void *md, void *engine, uintptr_t handle)'),
    memory_set_data_handle: f('int dnnl_memory_set_data_handle(void *mem, uintptr_t handle)'),
    memory_destroy: f('int dnnl_memory_destroy(void *mem)'),
    dilated_convolution_forward_desc_init: f(
      'int dnnl_dilated_convolution_forward_desc_init(void *d, int prop, int alg, void *src, void *wei, ' +
        'void *bias, void *dst, int64_t *strides, int64_t *dilates, int64_t *padl, int64_t *padr)',
    ),
    dilated_convolution_backward_data_desc_init: f(
      'int dnnl_dilated_convolution_backward_data_desc_init(void *d, int alg, void *dsrc, void *wei, ' +
        'void *ddst, int64_t *strides, int64_t *dilates, int64_t *padl, int64_t *padr)',
    ),
    dilated_convolution_backward_weights_desc_init: f(
      'int dnnl_dilated_convolution_backward_weights_desc_init(void *d, int alg, void *src, void *dwei, ' +
        'void *dbias, void *ddst, int64_t *strides, int64_t *dilates, int64_t *padl, int64_t *padr)',
    ),
    matmul_desc_init: f('int dnnl_matmul_desc_init(void *d, void *src, void *wei, void *bias, void *dst)'),
    eltwise_forward_desc_init: f(
      'int dnnl_eltwise_forward_desc_init(void *d, int prop, int alg, void *data, float alpha, float beta)',
    ),
    eltwise_backward_desc_init: f(
      'int dnnl_eltwise_backward_desc_init(void *d, int alg, void *ddata, void *data, float alpha, float beta)',
    ),
    binary_desc_init: f('int dnnl_binary_desc_init(void *d, int alg, void *src0, void *src1, void *dst)'),
    pooling_v2_forward_desc_init: f(
      'int dnnl_pooling_v2_forward_desc_init(void *d, int prop, int alg, void *src, void *dst, ' +
        'int64_t *strides, int64_t *kernel, int64_t *dilation, int64_t *padl, int64_t *padr)',
    ),
    pooling_v2_backward_desc_init: f(
      'int dnnl_pooling_v2_backward_desc_init(void *d, int alg, void *dsrc, void *ddst, ' +
        'int64_t *strides, int64_t *kernel, int64_t *dilation, int64_t *padl, int64_t *padr)',
    ),
    batch_normalization_forward_desc_init: f(
      'int dnnl_batch_normalization_forward_desc_init(void *d, int prop, void *data, float eps, unsigned int flags)',
    ),
    batch_normalization_backward_desc_init: f(
      'int dnnl_batch_normalization_backward_desc_init(void *d, int prop, void *ddata, void *data, float eps, unsigned int flags)',
    ),
    primitive_desc_create: f(
      'int dnnl_primitive_desc_create(_Out_ void **pd, void *desc, void *attr, void *engine, void *hint)',
    ),
    primitive_desc_query_md: f('void *dnnl_primitive_desc_query_md(void *pd, int what, int index)'),
    primitive_desc_destroy: f('int dnnl_primitive_desc_destroy(void *pd)'),
    reorder_primitive_desc_create: f(
      'int dnnl_reorder_primitive_desc_create(_Out_ void **pd, void *src, void *se, void *dst, void *de, void *attr)',
    ),
    primitive_create: f('int dnnl_primitive_create(_Out_ void **prim, void *pd)'),
    primitive_execute: f('int dnnl_primitive_execute(void *prim, void *stream, int nargs, void *args)'),
    primitive_destroy: f('int dnnl_primitive_destroy(void *prim)'),
    primitive_attr_create: f('int dnnl_primitive_attr_create(_Out_ void **attr)'),
    primitive_attr_destroy: f('int dnnl_primitive_attr_destroy(void *attr)'),
    primitive_attr_set_post_ops: f('int dnnl_primitive_attr_set_post_ops(void *attr, void *ops)'),
    primitive_attr_set_fpmath_mode: f('int dnnl_primitive_attr_set_fpmath_mode(void *attr, int mode)'),
    post_ops_create: f('int dnnl_post_ops_create(_Out_ void **ops)'),
    post_ops_destroy: f('int dnnl_post_ops_destroy(void *ops)'),
    post_ops_append_eltwise: f(
      'int dnnl_post_ops_append_eltwise(void *ops, float scale, int alg, float alpha, float beta)',
    ),
  };
}
