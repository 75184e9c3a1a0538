import { type ConvGeometry, type PlanOptions } from './conv-plans.js';
import { DNNL, type Handle } from './library.js';
import { matMulPlan } from './matmul-plan.js';
import {
  type DnnlContext,
  type Plan,
  check,
  execArgs,
  memory,
  onOneThread,
  plainMd,
  reorderPrimitive,
} from './plan.js';

/**
 * The weights gradient of an unpadded 1x1 convolution (a ResNet's projection shortcut) as one matrix
 * product over the batch's output positions: dW[ci, co] = x'^T . dy, where x' is x at the stride's
 * positions ([N*OH*OW, ci], copied dense first when the stride is over 1) and dW is the [1, 1, ci, co]
 * filter. oneDNN's own 1x1 weights-gradient kernels took 2-3 ms for each of resnet-xs's projections at
 * 64 px, batch 32 (8-16 MFLOP each); the product and the copy take a tenth of that.
 */

/**
 * Whether `g` is a convolution this plan computes the weights gradient of. The strided view of x must span
 * no more than x (oneDNN refuses a view whose last stride step would run past it: 9 rows at stride 2).
 */
export function isPointwise(g: ConvGeometry): boolean {
  return (
    g.kh === 1 &&
    g.kw === 1 &&
    g.top === 0 &&
    g.left === 0 &&
    !g.depthwise &&
    g.oh * g.sh <= g.h &&
    g.ow * g.sw <= g.w
  );
}

/** Context scratch slot of x' (away from the slots plans use for their arguments' reorders). */
const GATHER_SLOT = 8;

export class Conv1x1WeightsPlan {
  private readonly matmul: Plan;
  /** The copy of x at the stride's positions into dense scratch memory; null for stride 1. */
  private readonly gather: { prim: Handle; from: Handle; to: Handle; args: Buffer; bytes: number } | null;

  constructor(
    private readonly ctx: DnnlContext,
    g: ConvGeometry,
    opts: PlanOptions,
  ) {
    const rows = g.n * g.oh * g.ow;
    this.matmul = matMulPlan(
      ctx,
      { batchA: 1, batchB: 1, m: g.ci, k: rows, n: g.co, transposeA: true, transposeB: false },
      { bias: false, eltwise: null },
      opts,
    );
    if (g.sh === 1 && g.sw === 1) {
      this.gather = null;
      return;
    }
    const api = ctx.api;
    const dims = [g.n, g.oh, g.ow, g.ci];
    const view = plainMd(api, dims, [g.h * g.w * g.ci, g.sh * g.w * g.ci, g.sw * g.ci, 1]);
    const dense = plainMd(api, dims, [g.oh * g.ow * g.ci, g.ow * g.ci, g.ci, 1]);
    const prim = reorderPrimitive(ctx, view, dense);
    const from = memory(api, ctx, view);
    const to = memory(api, ctx, dense);
    const args = execArgs(api, [
      [DNNL.ARG_FROM, from],
      [DNNL.ARG_TO, to],
    ]);
    this.gather = { prim, from, to, args, bytes: rows * g.ci * 4 };
  }

  /**
   * Runs on data at [x, dy, dW], on one thread: with two, oneDNN's matrix product splits the long inner
   * dimension between them and each spins at a barrier until the other is done, which on a busy machine
   * (the other thread waiting for a core) cost ~4 ms of CPU time per call; one thread takes 0.2-0.6 ms.
   */
  run(addresses: number[]): void {
    onOneThread(this.ctx.api, () => this.runOn(addresses));
  }

  private runOn([x, dy, dw]: number[]): void {
    let rows = x!;
    if (this.gather) {
      const { api, stream } = this.ctx;
      rows = this.ctx.scratchAddress(GATHER_SLOT, this.gather.bytes);
      check(api.memory_set_data_handle(this.gather.from, x!), 'set_data_handle');
      check(api.memory_set_data_handle(this.gather.to, rows), 'set_data_handle');
      check(api.primitive_execute(this.gather.prim, stream, 2, this.gather.args), 'reorder');
    }
    this.matmul.run([rows, dy!, dw!]);
  }

  dispose(): void {
    this.matmul.dispose();
    if (!this.gather) return;
    const api = this.ctx.api;
    api.primitive_destroy(this.gather.prim);
    api.memory_destroy(this.gather.from);
    api.memory_destroy(this.gather.to);
  }
}
