import type * as tfTypes from '@tensorflow/tfjs';

/**
 * Identity and same-type Cast as views of their input (its memory shared, reference-counted), as the cpu
 * and webgl backends do them, instead of the wasm backend's full copies. tfjs's engine clones (Identity)
 * every tensor a gradient saves, and casts every gradient that passes a clone: on wasm that was a copy of
 * each activation a training step keeps, ~30 per stage of the dlib ResNet. Safe because nothing writes a
 * tensor's memory in place (the fused Adam copies a shared moment first: engine/adam.ts ownData).
 */

interface RefCountingBackend {
  incRef(dataId: object): void;
}

function view(x: tfTypes.TensorInfo, backend: unknown): tfTypes.TensorInfo {
  (backend as RefCountingBackend).incRef(x.dataId as object);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

/** Identity as a view; strings (kept outside the heap) go to the backend's own kernel. */
export function makeIdentityConfig(previous: tfTypes.KernelConfig): tfTypes.KernelConfig {
  return {
    ...previous,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tfTypes.TensorInfo };
      return x.dtype === 'string' ? previous.kernelFunc(args) : view(x, args.backend);
    },
  };
}

/** Cast to the type the tensor already has as a view; real conversions go to the backend's kernel. */
export function makeCastConfig(previous: tfTypes.KernelConfig): tfTypes.KernelConfig {
  return {
    ...previous,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tfTypes.TensorInfo };
      const { dtype } = args.attrs as unknown as { dtype: tfTypes.DataType };
      return dtype === x.dtype && dtype !== 'string' ? view(x, args.backend) : previous.kernelFunc(args);
    },
  };
}
