import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';

/**
 * Helpers to compose a wasm kernel out of the wasm backend's own kernels. Calling kernel functions
 * directly (instead of tf ops) keeps the work off the gradient tape and out of the engine's
 * bookkeeping: a composite kernel is one node to the engine, like a native one.
 */

/** The backend as tfjs hands it to a kernel function (typed `{}` there). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
type Backend = {};

/** Minimal view of the wasm backend that composite kernels need (reference counts on data ids). */
interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
}

/** The wasm backend's view of its heap (typed arrays over tensor data, valid until the next malloc). */
export interface HeapBackend {
  makeOutput(shape: number[], dtype: tfTypes.DataType): tfTypes.TensorInfo;
  typedArrayFromHeap(info: tfTypes.TensorInfo): Float32Array;
}

/** Runs the kernel `name` currently registered for 'wasm' (or the given config) on `inputs`. */
export function run(
  backend: Backend,
  name: string,
  inputs: Record<string, tfTypes.TensorInfo>,
  attrs: Record<string, unknown> = {},
): tfTypes.TensorInfo {
  const config = tf.getKernel(name, 'wasm');
  if (config == null) throw new Error(`wasm kernel ${name} is not registered`);
  return runConfig(config, backend, inputs, attrs);
}

export function runConfig(
  config: tfTypes.KernelConfig,
  backend: Backend,
  inputs: Record<string, tfTypes.TensorInfo> | tfTypes.TensorInfo[],
  attrs: Record<string, unknown> = {},
): tfTypes.TensorInfo {
  const out = config.kernelFunc({
    inputs: inputs as tfTypes.NamedTensorInfoMap,
    backend,
    attrs: attrs as tfTypes.NamedAttrMap,
  });
  if (Array.isArray(out)) throw new Error(`wasm kernel ${config.kernelName} returned several outputs`);
  return out;
}

/** Releases intermediate results (reshapes share data ids, so reference counts do the right thing). */
export function release(backend: Backend, ...infos: tfTypes.TensorInfo[]): void {
  for (const info of infos) (backend as WasmBackendLike).disposeData(info.dataId as object);
}

export const transpose = (b: Backend, x: tfTypes.TensorInfo, perm: number[]) =>
  run(b, 'Transpose', { x }, { perm });
export const reshape = (b: Backend, x: tfTypes.TensorInfo, shape: number[]) =>
  run(b, 'Reshape', { x }, { shape });
export const slice = (b: Backend, x: tfTypes.TensorInfo, begin: number[], size: number[]) =>
  run(b, 'Slice', { x }, { begin, size });
export const pad = (b: Backend, x: tfTypes.TensorInfo, paddings: Array<[number, number]>) =>
  run(b, 'PadV2', { x }, { paddings, constantValue: 0 });
export const reverse = (b: Backend, x: tfTypes.TensorInfo, dims: number[]) =>
  run(b, 'Reverse', { x }, { dims });

/** NHWC conv2d with explicit paddings (the wasm Conv2D passes them to XNNPACK as is). */
export function conv2dExplicit(
  b: Backend,
  x: tfTypes.TensorInfo,
  filter: tfTypes.TensorInfo,
  strides: [number, number],
  dilations: [number, number],
  pads: { top: number; bottom: number; left: number; right: number },
): tfTypes.TensorInfo {
  return run(
    b,
    'Conv2D',
    { x, filter },
    {
      strides,
      dilations,
      pad: [
        [0, 0],
        [pads.top, pads.bottom],
        [pads.left, pads.right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
    },
  );
}

/** Crops (negative amounts) and zero-pads (positive amounts) the H and W axes of an NHWC tensor. */
export function padOrCropHW(
  b: Backend,
  x: tfTypes.TensorInfo,
  top: number,
  bottom: number,
  left: number,
  right: number,
): { out: tfTypes.TensorInfo; top: number; bottom: number; left: number; right: number } {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const ct = Math.max(0, -top);
  const cb = Math.max(0, -bottom);
  const cl = Math.max(0, -left);
  const cr = Math.max(0, -right);
  if (ct + cb + cl + cr === 0) return { out: x, top, bottom, left, right };
  const out = slice(b, x, [0, ct, cl, 0], [n, h - ct - cb, w - cl - cr, c]);
  return {
    out,
    top: Math.max(0, top),
    bottom: Math.max(0, bottom),
    left: Math.max(0, left),
    right: Math.max(0, right),
  };
}

/**
 * Inserts `s - 1` zeros between rows/columns of an NHWC tensor (the "dilated" gradient of a strided
 * conv), leaving `s - 1` trailing zeros too: [N, H, W, C] -> [N, H*sh, W*sw, C].
 */
export function zeroInsert(b: Backend, x: tfTypes.TensorInfo, sh: number, sw: number): tfTypes.TensorInfo {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const x6 = reshape(b, x, [n, h, 1, w, 1, c]);
  const padded = pad(b, x6, [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  const out = reshape(b, padded, [n, h * sh, w * sw, c]);
  release(b, x6, padded);
  return out;
}
