import type * as tfTypes from '@tensorflow/tfjs';

/**
 * A float32 tensor whose values `fill` writes. On the wasm backend they are written straight into the
 * tensor's memory in the wasm heap: a model's weights then need no JavaScript array of their own (the
 * default model and the detector: ~65 MB that was allocated, copied once and dropped, and whose external
 * memory made V8 collect several times during a cold start). Elsewhere, an ordinary tf.tensor.
 */
export function filledTensor(
  tf: typeof tfTypes,
  shape: number[],
  fill: (out: Float32Array) => void,
): tfTypes.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const backend = tf.backend() as unknown as Partial<WasmHeap>;
  if (tf.getBackend() !== 'wasm' || !backend.wasm?.HEAPU8 || !backend.dataIdMap || !backend.write) {
    const values = new Float32Array(n);
    fill(values);
    return tf.tensor(values, shape, 'float32');
  }
  // write(null) allocates without copying; the heap may grow (and move) then: view it afterwards.
  const dataId = backend.write(null, shape, 'float32');
  const offset = backend.dataIdMap.get(dataId)!.memoryOffset;
  fill(new Float32Array(backend.wasm.HEAPU8.buffer, offset, n));
  return tf.engine().makeTensorFromDataId(dataId, shape, 'float32', backend as never);
}

/** The parts of tfjs-backend-wasm's BackendWasm used here. */
interface WasmHeap {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  write(values: null, shape: number[], dtype: 'float32'): object;
}
