import { DNNL } from './library.js';
import { type Epilogue, type PlanOptions, makeAttr } from './conv-plans.js';
import { type DnnlContext, Plan, check, plainMd } from './plan.js';

/**
 * oneDNN plan for tfjs's BatchMatMul on [batch, rows, inner] operands in place: a transposed operand
 * is only other strides, so nothing is copied; a batch of 1 broadcasts over the other operand's.
 */
export interface MatMulGeometry {
  batchA: number;
  batchB: number;
  m: number;
  k: number;
  n: number;
  transposeA: boolean;
  transposeB: boolean;
}

/** out = op(a) . op(b) [+ bias over the last axis] [then eltwise]; run with addresses [a, b, (bias), out]. */
export function matMulPlan(ctx: DnnlContext, g: MatMulGeometry, e: Epilogue, opts: PlanOptions): Plan {
  const { m, k, n } = g;
  const batch = Math.max(g.batchA, g.batchB);
  const a = plainMd(ctx.api, [g.batchA, m, k], g.transposeA ? [m * k, 1, m] : [m * k, k, 1]);
  const b = plainMd(ctx.api, [g.batchB, k, n], g.transposeB ? [k * n, 1, k] : [k * n, n, 1]);
  const out = plainMd(ctx.api, [batch, m, n], [m * n, n, 1]);
  const bias = e.bias ? plainMd(ctx.api, [1, 1, n], [n, n, 1]) : null;
  const desc = Buffer.alloc(DNNL.OP_DESC_BYTES);
  check(ctx.api.matmul_desc_init(desc, a, b, bias, out), 'matmul_desc_init');
  const attr = makeAttr(ctx, e.eltwise, opts.bf16);
  try {
    return new Plan(
      ctx,
      desc,
      [
        { arg: DNNL.ARG_SRC, query: DNNL.querySrc, user: a, output: false },
        { arg: DNNL.ARG_WEIGHTS, query: DNNL.queryWeights, user: b, output: false },
        ...(bias
          ? [{ arg: DNNL.ARG_BIAS, query: DNNL.queryWeights, index: 1, user: bias, output: false }]
          : []),
        { arg: DNNL.ARG_DST, query: DNNL.queryDst, user: out, output: true },
      ],
      { attr },
    );
  } finally {
    if (attr) ctx.api.primitive_attr_destroy(attr);
  }
}
