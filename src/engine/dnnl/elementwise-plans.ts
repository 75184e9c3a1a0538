import { DNNL, type Handle } from './library.js';
import { type DnnlContext, Plan, check, plainMd } from './plan.js';

/**
 * oneDNN plans for the memory-bound kernels between the convolutions: an activation (relu, clip), an
 * addition with broadcasting (a residual, a bias), and inference-style batch normalisation (given mean
 * and variance). On the wasm backend these run single-threaded at 128-bit SIMD; in a detector at 512 px
 * they took as long as all its convolutions together. Plain layouts only, so nothing is reordered.
 */

/** out = f(x) over `count` floats; run with addresses [x, out]. */
export function eltwisePlan(ctx: DnnlContext, count: number, alg: number, alpha: number, beta: number): Plan {
  const md = plainMd(ctx.api, [count], [1]);
  const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
  check(
    ctx.api.eltwise_forward_desc_init(desc, DNNL.forwardInference, alg, md, alpha, beta),
    'eltwise_forward_desc_init',
  );
  return new Plan(ctx, desc, [
    { arg: DNNL.ARG_SRC, user: md, output: false },
    { arg: DNNL.ARG_DST, user: md, output: true },
  ]);
}

/** ReLU's gradient over `count` floats, dx = x > 0 ? dy : 0; run with addresses [x, dy, dx]. */
export function reluBackwardPlan(ctx: DnnlContext, count: number): Plan {
  const md = plainMd(ctx.api, [count], [1]);
  const fwd = Buffer.alloc(DNNL.OP_DESC_BYTES);
  check(
    ctx.api.eltwise_forward_desc_init(fwd, DNNL.forwardTraining, DNNL.eltwiseRelu, md, 0, 0),
    'eltwise_forward_desc_init',
  );
  const hint: [Handle | null] = [null];
  check(ctx.api.primitive_desc_create(hint, fwd, null, ctx.engine, null), 'relu hint');
  try {
    const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
    check(
      ctx.api.eltwise_backward_desc_init(desc, DNNL.eltwiseRelu, md, md, 0, 0),
      'eltwise_backward_desc_init',
    );
    return new Plan(
      ctx,
      desc,
      [
        { arg: DNNL.ARG_SRC, user: md, output: false },
        { arg: DNNL.ARG_DIFF_DST, user: md, output: false },
        { arg: DNNL.ARG_DIFF_SRC, user: md, output: true },
      ],
      { hint: hint[0] },
    );
  } finally {
    ctx.api.primitive_desc_destroy(hint[0]!);
  }
}

/**
 * out = a + b over a [rows, cols] matrix, b either the same shape or one row broadcast over all rows (a
 * bias over the last axis). Both are patterns oneDNN's JIT kernels take; a general broadcast over plain
 * strides would run its reference code, slower than wasm. Run with addresses [a, b, out].
 */
export function addPlan(ctx: DnnlContext, rows: number, cols: number, rowBroadcast: boolean): Plan {
  const a = plainMd(ctx.api, [rows, cols], [cols, 1]);
  const b = rowBroadcast ? plainMd(ctx.api, [1, cols], [cols, 1]) : a;
  const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
  check(ctx.api.binary_desc_init(desc, DNNL.binaryAdd, a, b, a), 'binary_desc_init');
  return new Plan(ctx, desc, [
    { arg: DNNL.ARG_SRC, user: a, output: false },
    { arg: DNNL.ARG_SRC_1, user: b, output: false },
    { arg: DNNL.ARG_DST, user: a, output: true },
  ]);
}

/**
 * Batch normalisation of NHWC `x` with the given per-channel mean and variance, then scale and offset
 * (each optional); run with addresses [x, mean, variance, (scale), (offset), out].
 */
export function batchNormPlan(
  ctx: DnnlContext,
  g: { n: number; h: number; w: number; c: number },
  epsilon: number,
  withScale: boolean,
  withOffset: boolean,
): Plan {
  const { n, h, w, c } = g;
  // oneDNN's logical order is N, C, H, W; NHWC is only other strides.
  const data = plainMd(ctx.api, [n, c, h, w], [h * w * c, 1, w * c, c]);
  const vec = plainMd(ctx.api, [c], [1]);
  const flags = DNNL.useGlobalStats | (withScale ? DNNL.useScale : 0) | (withOffset ? DNNL.useShift : 0);
  const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
  check(
    ctx.api.batch_normalization_forward_desc_init(desc, DNNL.forwardInference, data, epsilon, flags),
    'batch_normalization_forward_desc_init',
  );
  return new Plan(ctx, desc, [
    { arg: DNNL.ARG_SRC, user: data, output: false },
    { arg: DNNL.ARG_MEAN, user: vec, output: false },
    { arg: DNNL.ARG_VARIANCE, user: vec, output: false },
    ...(withScale ? [{ arg: DNNL.ARG_SCALE, user: vec, output: false }] : []),
    ...(withOffset ? [{ arg: DNNL.ARG_SHIFT, user: vec, output: false }] : []),
    { arg: DNNL.ARG_DST, user: data, output: true },
  ]);
}

/** Geometry of an NHWC tensor as oneDNN sees it. */
interface Nhwc {
  n: number;
  h: number;
  w: number;
  c: number;
}

/** Forward-training descriptor of batch norm with scale and shift over NHWC data; its data and vector mds. */
function batchNormTrainDesc(ctx: DnnlContext, g: Nhwc, epsilon: number) {
  const { n, h, w, c } = g;
  const data = plainMd(ctx.api, [n, c, h, w], [h * w * c, 1, w * c, c]);
  const vec = plainMd(ctx.api, [c], [1]);
  const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
  check(
    ctx.api.batch_normalization_forward_desc_init(
      desc,
      DNNL.forwardTraining,
      data,
      epsilon,
      DNNL.useScale | DNNL.useShift,
    ),
    'batch_normalization_forward_desc_init',
  );
  return { desc, data, vec };
}

const input = (arg: number, user: Buffer) => ({ arg, user, output: false });
const output = (arg: number, user: Buffer) => ({ arg, user, output: true });

/**
 * Batch normalisation in training over NHWC `x` with scale and shift: the batch mean and (biased) variance,
 * and x normalised with them; run with addresses [x, scale, shift, y, mean, variance].
 */
export function batchNormTrainForwardPlan(ctx: DnnlContext, g: Nhwc, epsilon: number): Plan {
  const { desc, data, vec } = batchNormTrainDesc(ctx, g, epsilon);
  return new Plan(ctx, desc, [
    input(DNNL.ARG_SRC, data),
    input(DNNL.ARG_SCALE, vec),
    input(DNNL.ARG_SHIFT, vec),
    output(DNNL.ARG_DST, data),
    output(DNNL.ARG_MEAN, vec),
    output(DNNL.ARG_VARIANCE, vec),
  ]);
}

/**
 * Its gradient through the batch statistics: dx, dscale and dshift; run with addresses
 * [x, dy, scale, shift, mean, variance, dx, dscale, dshift].
 */
export function batchNormTrainBackwardPlan(ctx: DnnlContext, g: Nhwc, epsilon: number): Plan {
  const fwd = batchNormTrainDesc(ctx, g, epsilon);
  const { data, vec } = fwd;
  const hint: [Handle | null] = [null];
  check(ctx.api.primitive_desc_create(hint, fwd.desc, null, ctx.engine, null), 'batch norm hint');
  try {
    const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
    check(
      ctx.api.batch_normalization_backward_desc_init(
        desc,
        DNNL.backward,
        data,
        data,
        epsilon,
        DNNL.useScale | DNNL.useShift,
      ),
      'batch_normalization_backward_desc_init',
    );
    return new Plan(
      ctx,
      desc,
      [
        input(DNNL.ARG_SRC, data),
        input(DNNL.ARG_DIFF_DST, data),
        input(DNNL.ARG_SCALE, vec),
        // Not read by the gradient, but oneDNN 2.6 refuses to run without it (status 2) when useShift is set.
        input(DNNL.ARG_SHIFT, vec),
        input(DNNL.ARG_MEAN, vec),
        input(DNNL.ARG_VARIANCE, vec),
        output(DNNL.ARG_DIFF_SRC, data),
        output(DNNL.ARG_DIFF_SCALE, vec),
        output(DNNL.ARG_DIFF_SHIFT, vec),
      ],
      { hint: hint[0] },
    );
  } finally {
    ctx.api.primitive_desc_destroy(hint[0]!);
  }
}
