import type * as tfTypes from '@tensorflow/tfjs';
import type { DnnlContext, Plan, PlanCache } from './plan.js';
import type { PlanOptions } from './conv-plans.js';
import { alignedMemory } from './plan.js';

/**
 * How a kernel call runs a oneDNN plan on tensors where they lie in the wasm heap: addresses of inputs and
 * outputs, and lasting copies of weights in a primitive's own layout.
 */

/** The view of tfjs-backend-wasm's BackendWasm these kernels need. */
export interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tfTypes.DataType): tfTypes.TensorInfo;
}

/** What every kernel call shares: oneDNN's context, compiled plans, and the weights kept reordered. */
export interface KernelState {
  ctx: DnnlContext;
  cache: PlanCache;
  opts: PlanOptions;
  /** Calls oneDNN took, and calls handed to the previous kernel; for tests and logs. */
  calls: Record<string, { dnnl: number; fallback: number }>;
  /**
   * Inputs kept in a primitive's own layout, by tensor data id and plan: a model's weights, which every
   * call would otherwise reorder again (~20% of a small-batch inference). tfjs never changes the data
   * behind a data id (the wasm backend's XNNPACK cache relies on the same), so a copy stays valid for the
   * tensor's life; it is made on the second call with the same tensor, so activations, new every call,
   * never get one. null = seen once.
   */
  reordered: WeakMap<object, Map<string, { address: number; offset: number; keep: Buffer } | null>>;
  reorderedBytes: number;
}
/** A kernel: runs the call on oneDNN, or returns null to hand it to the kernel registered before. */
export type KernelFn = (
  args: {
    inputs: tfTypes.NamedTensorInfoMap;
    backend: WasmBackend;
    attrs: tfTypes.NamedAttrMap;
  },
  state: KernelState,
) => tfTypes.TensorInfo | tfTypes.TensorInfo[] | null;

export const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
export const allF32 = (...ts: Array<tfTypes.TensorInfo | undefined>) =>
  ts.every((t) => !t || t.dtype === 'float32');

export const key = (kind: string, ...parts: unknown[]) => `${kind}:${JSON.stringify(parts)}`;

/** Native address of a tensor's data in the wasm heap (valid until the next allocation). */
export function tensorAddress(s: KernelState, b: WasmBackend, t: tfTypes.TensorInfo): number {
  return address(b, s.ctx.api.addressOf(b.wasm.HEAPU8), t);
}

function address(b: WasmBackend, base: number, t: tfTypes.TensorInfo): number {
  const d = b.dataIdMap.get(t.dataId as object);
  if (!d) throw new Error('oneDNN kernel: tensor data not in the wasm heap');
  return base + d.memoryOffset;
}

/** Past this many bytes of reordered weights, no new copies are made (a runaway guard, not a budget). */
const REORDERED_LIMIT = 1 << 30;
/** Gives a copy's bytes back to the count once its tensor (and so the copy) is collected. */
const released = new FinalizationRegistry<{ state: KernelState; bytes: number }>(({ state, bytes }) => {
  state.reorderedBytes = Math.max(0, state.reorderedBytes - bytes);
});

/**
 * Runs `plan` on `inputs`, writing a new f32 tensor of `outShape` (allocated before the heap is read).
 * Inputs at `reuse` (weights) get a lasting copy in the primitive's layout, see State.reordered.
 */
export function runPlan(
  s: KernelState,
  b: WasmBackend,
  plan: Plan,
  planKey: string,
  inputs: tfTypes.TensorInfo[],
  outShape: number[],
  reuse: number[] = [],
): tfTypes.TensorInfo {
  const out = b.makeOutput(outShape, 'float32');
  if (sizeOf(outShape) === 0) return out;
  // Allocation may have grown (and moved) the heap: take its address afterwards.
  const base = s.ctx.api.addressOf(b.wasm.HEAPU8);
  const addresses = [...inputs.map((t) => address(b, base, t)), address(b, base, out)];
  const reordered: Array<number | undefined> = [];
  for (const i of reuse) {
    const bytes = plan.reorderedBytes(i);
    if (bytes === 0) continue;
    const id = inputs[i]!.dataId as object;
    const offset = b.dataIdMap.get(id)!.memoryOffset;
    let byPlan = s.reordered.get(id);
    if (!byPlan) s.reordered.set(id, (byPlan = new Map()));
    const have = byPlan.get(planKey);
    if (have && have.offset === offset) {
      reordered[i] = have.address;
    } else if (have === undefined) {
      byPlan.set(planKey, null);
    } else if (s.reorderedBytes + bytes <= REORDERED_LIMIT) {
      const { buf: keep, address: at } = alignedMemory(s.ctx.api, bytes);
      plan.reorderInput(i, addresses[i]!, at);
      byPlan.set(planKey, { address: at, offset, keep });
      s.reorderedBytes += bytes;
      released.register(keep, { state: s, bytes });
      reordered[i] = at;
    }
  }
  plan.run(addresses, reordered);
  return out;
}

/**
 * Runs a plan on plain layouts only (no reorders) that writes several outputs, allocated first and in
 * the plan's order after the inputs.
 */
export function runPlainPlan(
  s: KernelState,
  b: WasmBackend,
  plan: Plan,
  inputs: tfTypes.TensorInfo[],
  outShapes: number[][],
): tfTypes.TensorInfo[] {
  const outs = outShapes.map((shape) => b.makeOutput(shape, 'float32'));
  const base = s.ctx.api.addressOf(b.wasm.HEAPU8);
  plan.run([...inputs, ...outs].map((t) => address(b, base, t)));
  return outs;
}
