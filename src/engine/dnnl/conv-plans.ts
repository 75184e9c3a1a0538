import { DNNL, type Handle } from './library.js';
import { type DnnlContext, DnnlError, Plan, anyMd, check, plainMd, toDims } from './plan.js';

/**
 * oneDNN plans for the three passes of a 2-D convolution over tfjs tensors: NHWC activations, HWIO
 * filters ([kh, kw, in, out]) or depthwise [kh, kw, C, M] filters (a grouped convolution with C groups).
 */

/** Geometry of one convolution, all in tfjs's terms (from backend_util.computeConv2DInfo). */
export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  ci: number;
  /** Output channels (C * M for depthwise). */
  co: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
  oh: number;
  ow: number;
  depthwise: boolean;
}

/** Fused output stage of a forward convolution or matmul. */
export interface Epilogue {
  bias: boolean;
  /** oneDNN eltwise algorithm and its alpha/beta, or null for none. */
  eltwise: { alg: number; alpha: number; beta: number } | null;
}

export interface PlanOptions {
  /**
   * Layouts inside the convolutions. 'channels-last' (the default): activations read and written where they
   * lie (NHWC, oneDNN's nhwc kernels, as PyTorch's channels_last runs them), weights in the layout oneDNN
   * picks (reordered, and kept where the same weights come again); 'blocked': activations too, reordered in
   * and out on every call; 'plain': no reorders at all (for measuring). Channels-last measured 14-20% less
   * CPU time than blocked over the convolutions of a training step (resnet-xs, dlib ResNet; AVX2), the
   * reorders it saves included.
   */
  layout: 'channels-last' | 'blocked' | 'plain';
  /**
   * bf16 arithmetic inside the primitive, f32 tensors in and out: convolutions read their inputs as bf16
   * (converted by a reorder into the blocked layout, which bf16 makes them run on) and write f32; matmuls
   * get oneDNN's bf16 fp-math mode.
   */
  bf16: boolean;
}

/**
 * Whether a convolution reads and writes its activations in place (NHWC). Not for the forward pass of a
 * stem (a few input channels, a kernel wider than 3x3): oneDNN's nhwc kernel for it took 1.6x the CPU
 * time of the blocked one with its reorders (the dlib ResNet's 7x7 conv on 3 channels). Not for a weights
 * gradient whose input and output channels both leave a remainder of 8 (oneDNN 2.6's AVX2 nhwc kernel
 * then corrupted the native heap; our networks' channels are multiples of 8 but for the image's 3).
 */
function channelsLast(g: ConvGeometry, opts: PlanOptions, written: Written, bf16: boolean): boolean {
  if (opts.layout !== 'channels-last' || bf16) return false;
  if (written === 'dst') return !(g.ci < 8 && g.kh * g.kw > 9);
  if (written === 'wei') return g.ci % 8 === 0 || g.co % 8 === 0;
  return true;
}

function nhwc(ctx: DnnlContext, n: number, c: number, h: number, w: number): Buffer {
  return plainMd(ctx.api, [n, c, h, w], [h * w * c, 1, w * c, c]);
}

function filterMd(ctx: DnnlContext, g: ConvGeometry): Buffer {
  if (!g.depthwise)
    return plainMd(ctx.api, [g.co, g.ci, g.kh, g.kw], [1, g.co, g.kw * g.ci * g.co, g.ci * g.co]);
  const m = g.co / g.ci;
  // [G, O/G, I/G, KH, KW] over tfjs's [kh, kw, C, M].
  return plainMd(ctx.api, [g.ci, m, 1, g.kh, g.kw], [m, 1, 1, g.kw * g.ci * m, g.ci * m]);
}

function filterDims(g: ConvGeometry): number[] {
  return g.depthwise ? [g.ci, g.co / g.ci, 1, g.kh, g.kw] : [g.co, g.ci, g.kh, g.kw];
}

/** Padding after the data that makes oneDNN's output size exactly tfjs's (negative: rows never read). */
function padsOf(g: ConvGeometry) {
  const extH = (g.kh - 1) * g.dh + 1;
  const extW = (g.kw - 1) * g.dw + 1;
  return {
    strides: toDims([g.sh, g.sw]),
    dilates: toDims([g.dh - 1, g.dw - 1]),
    padL: toDims([g.top, g.left]),
    padR: toDims([(g.oh - 1) * g.sh + extH - g.h - g.top, (g.ow - 1) * g.sw + extW - g.w - g.left]),
  };
}

interface Mds {
  src: Buffer;
  wei: Buffer;
  dst: Buffer;
  userSrc: Buffer;
  userWei: Buffer;
  userDst: Buffer;
}

/** Data types inside a primitive: bf16 for what it reads, f32 for what it writes (one of the three). */
type Written = 'src' | 'wei' | 'dst';

/**
 * Memory descriptors of a pass (named by what it writes); `hintOf`: of the forward hint of that pass, in
 * the same layouts as the pass itself.
 */
function mdsOf(
  ctx: DnnlContext,
  g: ConvGeometry,
  opts: PlanOptions,
  written: Written,
  bf16: boolean,
  hintOf?: Written,
): Mds {
  const userSrc = nhwc(ctx, g.n, g.ci, g.h, g.w);
  const userWei = filterMd(ctx, g);
  const userDst = nhwc(ctx, g.n, g.co, g.oh, g.ow);
  if (opts.layout === 'plain') return { src: userSrc, wei: userWei, dst: userDst, userSrc, userWei, userDst };
  const dt = (role: Written) => (bf16 && role !== written ? DNNL.bf16 : DNNL.f32);
  if (channelsLast(g, opts, hintOf ?? written, bf16))
    return { src: userSrc, wei: anyMd(ctx.api, filterDims(g)), dst: userDst, userSrc, userWei, userDst };
  return {
    src: anyMd(ctx.api, [g.n, g.ci, g.h, g.w], dt('src')),
    wei: anyMd(ctx.api, filterDims(g), dt('wei')),
    dst: anyMd(ctx.api, [g.n, g.co, g.oh, g.ow], dt('dst')),
    userSrc,
    userWei,
    userDst,
  };
}

/**
 * Builds a convolution plan in bf16 when asked (and layouts are not plain), or in f32 when oneDNN has no
 * bf16 implementation for it (a depthwise shape, a CPU without the instructions): never an error.
 */
function withBf16(opts: PlanOptions, build: (bf16: boolean) => Plan): Plan {
  if (!opts.bf16 || opts.layout === 'plain') return build(false);
  try {
    return build(true);
  } catch (err) {
    if (err instanceof DnnlError) return build(false);
    throw err;
  }
}

/** Attribute object carrying the epilogue's eltwise post-op and the fp math mode; null when neither. */
export function makeAttr(ctx: DnnlContext, eltwise: Epilogue['eltwise'], bf16: boolean): Handle | null {
  if (!eltwise && !bf16) return null;
  const api = ctx.api;
  const attr: [Handle | null] = [null];
  check(api.primitive_attr_create(attr), 'primitive_attr_create');
  if (bf16) check(api.primitive_attr_set_fpmath_mode(attr[0]!, DNNL.fpmathBf16), 'set_fpmath_mode');
  if (eltwise) {
    const ops: [Handle | null] = [null];
    check(api.post_ops_create(ops), 'post_ops_create');
    check(
      api.post_ops_append_eltwise(ops[0]!, 1, eltwise.alg, eltwise.alpha, eltwise.beta),
      'append_eltwise',
    );
    check(api.primitive_attr_set_post_ops(attr[0]!, ops[0]!), 'set_post_ops');
    api.post_ops_destroy(ops[0]!);
  }
  return attr[0]!;
}

function forwardDesc(ctx: DnnlContext, g: ConvGeometry, m: Mds, prop: number, bias: Buffer | null): Buffer {
  const p = padsOf(g);
  const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
  check(
    ctx.api.dilated_convolution_forward_desc_init(
      desc,
      prop,
      DNNL.convolutionDirect,
      m.src,
      m.wei,
      bias,
      m.dst,
      p.strides,
      p.dilates,
      p.padL,
      p.padR,
    ),
    'convolution_forward_desc_init',
  );
  return desc;
}

/** Forward hint a backward primitive descriptor needs (built, then destroyed by the caller). */
function forwardHint(ctx: DnnlContext, g: ConvGeometry, m: Mds, attr: Handle | null): Handle {
  const desc = forwardDesc(ctx, g, m, DNNL.forwardTraining, null);
  const pd: [Handle | null] = [null];
  check(
    ctx.api.primitive_desc_create(pd, desc, attr, ctx.engine, null),
    'forward hint primitive_desc_create',
  );
  return pd[0]!;
}

/** y = conv(x, w) [+ bias] [then eltwise]; run with addresses [x, w, (bias), y]. */
export function convForwardPlan(ctx: DnnlContext, g: ConvGeometry, e: Epilogue, opts: PlanOptions): Plan {
  return withBf16(opts, (bf16) => convForward(ctx, g, e, opts, bf16));
}

function convForward(ctx: DnnlContext, g: ConvGeometry, e: Epilogue, opts: PlanOptions, bf16: boolean): Plan {
  const m = mdsOf(ctx, g, opts, 'dst', bf16);
  const bias = e.bias ? plainMd(ctx.api, [g.co], [1]) : null;
  const desc = forwardDesc(ctx, g, m, DNNL.forwardInference, bias);
  const attr = makeAttr(ctx, e.eltwise, false);
  try {
    return new Plan(
      ctx,
      desc,
      [
        { arg: DNNL.ARG_SRC, query: DNNL.querySrc, user: m.userSrc, output: false },
        { arg: DNNL.ARG_WEIGHTS, query: DNNL.queryWeights, user: m.userWei, output: false },
        ...(bias
          ? [{ arg: DNNL.ARG_BIAS, query: DNNL.queryWeights, index: 1, user: bias, output: false }]
          : []),
        { arg: DNNL.ARG_DST, query: DNNL.queryDst, user: m.userDst, output: true },
      ],
      { attr },
    );
  } finally {
    if (attr) ctx.api.primitive_attr_destroy(attr);
  }
}

/** dx from dy and w; run with addresses [dy, w, dx]. */
export function convBackwardDataPlan(ctx: DnnlContext, g: ConvGeometry, opts: PlanOptions): Plan {
  return withBf16(opts, (bf16) => convBackwardData(ctx, g, opts, bf16));
}

function convBackwardData(ctx: DnnlContext, g: ConvGeometry, opts: PlanOptions, bf16: boolean): Plan {
  const m = mdsOf(ctx, g, opts, 'src', bf16);
  const p = padsOf(g);
  const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
  check(
    ctx.api.dilated_convolution_backward_data_desc_init(
      desc,
      DNNL.convolutionDirect,
      m.src,
      m.wei,
      m.dst,
      p.strides,
      p.dilates,
      p.padL,
      p.padR,
    ),
    'convolution_backward_data_desc_init',
  );
  const attr = makeAttr(ctx, null, false);
  // The forward hint in a valid forward configuration of the same arithmetic (bf16 in, f32 out).
  const hint = forwardHint(ctx, g, mdsOf(ctx, g, opts, 'dst', bf16, 'src'), attr);
  try {
    return new Plan(
      ctx,
      desc,
      [
        { arg: DNNL.ARG_DIFF_DST, query: DNNL.queryDiffDst, user: m.userDst, output: false },
        { arg: DNNL.ARG_WEIGHTS, query: DNNL.queryWeights, user: m.userWei, output: false },
        { arg: DNNL.ARG_DIFF_SRC, query: DNNL.queryDiffSrc, user: m.userSrc, output: true },
      ],
      { attr, hint },
    );
  } finally {
    ctx.api.primitive_desc_destroy(hint);
    if (attr) ctx.api.primitive_attr_destroy(attr);
  }
}

/** dw from x and dy; run with addresses [x, dy, dw]. */
export function convBackwardWeightsPlan(ctx: DnnlContext, g: ConvGeometry, opts: PlanOptions): Plan {
  return withBf16(opts, (bf16) => convBackwardWeights(ctx, g, opts, bf16));
}

function convBackwardWeights(ctx: DnnlContext, g: ConvGeometry, opts: PlanOptions, bf16: boolean): Plan {
  const m = mdsOf(ctx, g, opts, 'wei', bf16);
  const p = padsOf(g);
  const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
  check(
    ctx.api.dilated_convolution_backward_weights_desc_init(
      desc,
      DNNL.convolutionDirect,
      m.src,
      m.wei,
      null,
      m.dst,
      p.strides,
      p.dilates,
      p.padL,
      p.padR,
    ),
    'convolution_backward_weights_desc_init',
  );
  const attr = makeAttr(ctx, null, false);
  // The forward hint in a valid forward configuration of the same arithmetic (bf16 in, f32 out).
  const hint = forwardHint(ctx, g, mdsOf(ctx, g, opts, 'dst', bf16, 'wei'), attr);
  try {
    return new Plan(
      ctx,
      desc,
      [
        { arg: DNNL.ARG_SRC, query: DNNL.querySrc, user: m.userSrc, output: false },
        { arg: DNNL.ARG_DIFF_DST, query: DNNL.queryDiffDst, user: m.userDst, output: false },
        { arg: DNNL.ARG_DIFF_WEIGHTS, query: DNNL.queryDiffWeights, user: m.userWei, output: true },
      ],
      { attr, hint },
    );
  } finally {
    ctx.api.primitive_desc_destroy(hint);
    if (attr) ctx.api.primitive_attr_destroy(attr);
  }
}
