import { DNNL, type Handle } from './library.js';
import { type DnnlContext, Plan, anyMd, check, plainMd, toDims } from './plan.js';

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
  /** Let oneDNN pick blocked layouts (reordering to and from the tensors' plain ones). */
  blocked: boolean;
  /** Allow bf16 arithmetic inside the primitive (f32 in and out). */
  bf16: boolean;
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

function mdsOf(ctx: DnnlContext, g: ConvGeometry, opts: PlanOptions): Mds {
  const userSrc = nhwc(ctx, g.n, g.ci, g.h, g.w);
  const userWei = filterMd(ctx, g);
  const userDst = nhwc(ctx, g.n, g.co, g.oh, g.ow);
  if (!opts.blocked) return { src: userSrc, wei: userWei, dst: userDst, userSrc, userWei, userDst };
  return {
    src: anyMd(ctx.api, [g.n, g.ci, g.h, g.w]),
    wei: anyMd(ctx.api, filterDims(g)),
    dst: anyMd(ctx.api, [g.n, g.co, g.oh, g.ow]),
    userSrc,
    userWei,
    userDst,
  };
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
  const m = mdsOf(ctx, g, opts);
  const bias = e.bias ? plainMd(ctx.api, [g.co], [1]) : null;
  const desc = forwardDesc(ctx, g, m, DNNL.forwardInference, bias);
  const attr = makeAttr(ctx, e.eltwise, opts.bf16);
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
  const m = mdsOf(ctx, g, opts);
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
  const attr = makeAttr(ctx, null, opts.bf16);
  const hint = forwardHint(ctx, g, m, attr);
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
  const m = mdsOf(ctx, g, opts);
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
  const attr = makeAttr(ctx, null, opts.bf16);
  const hint = forwardHint(ctx, g, m, attr);
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
