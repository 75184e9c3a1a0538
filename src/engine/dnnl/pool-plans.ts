import { DNNL, type Handle } from './library.js';
import { type DnnlContext, Plan, check, plainMd, toDims } from './plan.js';

/**
 * oneDNN plans for the gradients of 2-D max and average pooling over NHWC tensors. On wasm these are
 * single-threaded scalar loops (the dlib ResNet's 3x3 stride-2 stem pool: 6% of a training step's CPU time).
 * oneDNN's max-pool backward reads a workspace (where each window's maximum was) that only its forward in
 * training mode writes: the max plan pair runs that forward into scratch memory, then the backward.
 */

export interface PoolGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
  oh: number;
  ow: number;
}

/** Scratch slots of the forward's unused output and of the workspace (apart from the reorder slots). */
const DST_SLOT = 30;
const WORKSPACE_SLOT = 31;

function descs(ctx: DnnlContext, g: PoolGeometry) {
  const nhwc = (h: number, w: number) => plainMd(ctx.api, [g.n, g.c, h, w], [h * w * g.c, 1, w * g.c, g.c]);
  // Padding after the data so that oneDNN's output size is tfjs's; a last row or column no window
  // reaches (floor division) needs none.
  const padR = (o: number, s: number, k: number, i: number, lo: number) =>
    Math.max(0, (o - 1) * s + k - i - lo);
  return {
    src: nhwc(g.h, g.w),
    dst: nhwc(g.oh, g.ow),
    strides: toDims([g.sh, g.sw]),
    kernel: toDims([g.kh, g.kw]),
    dilation: toDims([0, 0]),
    padL: toDims([g.top, g.left]),
    padR: toDims([padR(g.oh, g.sh, g.kh, g.h, g.top), padR(g.ow, g.sw, g.kw, g.w, g.left)]),
  };
}

function forwardDesc(ctx: DnnlContext, g: PoolGeometry, alg: number): Buffer {
  const d = descs(ctx, g);
  const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
  check(
    ctx.api.pooling_v2_forward_desc_init(
      desc,
      DNNL.forwardTraining,
      alg,
      d.src,
      d.dst,
      d.strides,
      d.kernel,
      d.dilation,
      d.padL,
      d.padR,
    ),
    'pooling_v2_forward_desc_init',
  );
  return desc;
}

function backward(ctx: DnnlContext, g: PoolGeometry, alg: number, withWorkspace: boolean): Plan {
  const d = descs(ctx, g);
  const hint: [Handle | null] = [null];
  check(ctx.api.primitive_desc_create(hint, forwardDesc(ctx, g, alg), null, ctx.engine, null), 'pool hint');
  try {
    const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
    check(
      ctx.api.pooling_v2_backward_desc_init(
        desc,
        alg,
        d.src,
        d.dst,
        d.strides,
        d.kernel,
        d.dilation,
        d.padL,
        d.padR,
      ),
      'pooling_v2_backward_desc_init',
    );
    return new Plan(
      ctx,
      desc,
      [
        { arg: DNNL.ARG_DIFF_DST, user: d.dst, output: false },
        ...(withWorkspace
          ? [
              {
                arg: DNNL.ARG_WORKSPACE,
                query: DNNL.queryWorkspace,
                user: d.dst,
                output: false,
                scratch: WORKSPACE_SLOT,
              },
            ]
          : []),
        { arg: DNNL.ARG_DIFF_SRC, user: d.src, output: true },
      ],
      { hint: hint[0] },
    );
  } finally {
    ctx.api.primitive_desc_destroy(hint[0]!);
  }
}

/** Max pooling's forward in training mode, for its workspace; run with addresses [x, 0, 0]. */
export function maxPoolForwardPlan(ctx: DnnlContext, g: PoolGeometry): Plan {
  const d = descs(ctx, g);
  return new Plan(ctx, forwardDesc(ctx, g, DNNL.poolingMax), [
    { arg: DNNL.ARG_SRC, user: d.src, output: false },
    { arg: DNNL.ARG_DST, query: DNNL.queryDst, user: d.dst, output: true, scratch: DST_SLOT },
    {
      arg: DNNL.ARG_WORKSPACE,
      query: DNNL.queryWorkspace,
      user: d.dst,
      output: true,
      scratch: WORKSPACE_SLOT,
    },
  ]);
}

/**
 * Max pooling's gradient after maxPoolForwardPlan on the same x: dy to each window's maximum (the
 * first, in row-major order); run with addresses [dy, 0, dx].
 */
export function maxPoolBackwardPlan(ctx: DnnlContext, g: PoolGeometry): Plan {
  return backward(ctx, g, DNNL.poolingMax, true);
}

/** Average pooling's gradient without padding (each window's dy / its size); run with [dy, dx]. */
export function avgPoolGradPlan(ctx: DnnlContext, g: PoolGeometry): Plan {
  return backward(ctx, g, DNNL.poolingAvgIncludePadding, false);
}
