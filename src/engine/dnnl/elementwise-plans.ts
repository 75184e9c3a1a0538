import { DNNL } from './library.js';
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
