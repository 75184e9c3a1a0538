import type * as tfTypes from '@tensorflow/tfjs';
import { fuseConvRelu } from '../engine/fuse-relu.js';
import { loadLayersModelFromDir, readModelArtifacts } from '../engine/model-io.js';
import { tf } from '../engine/tfjs.js';
import { filledTensor } from './filled-tensor.js';
import { manifestWeights, type ManifestEntry, type ManifestWeight } from '../engine/weight-manifest.js';

/**
 * A bundle's network loaded to predict, with its weights uploaded once. tfjs's loader builds every layer
 * with zero weights (a JavaScript array per weight, copied into the wasm heap: ~40 MB for the default
 * model), then decodes the saved weights (float16 through three table reads per value, then a slice per
 * weight) and uploads them again: ~400 ms of CPU at every `agegender predict`. Here each layer is built
 * straight from its saved weight (decoded by ../engine/weight-manifest.ts: float16 by bit shifts), a custom
 * initializer handing it over: the same values, one upload. Any weight this cannot place (a nested model,
 * a quantization other than float16) falls back to tfjs's loader: same model either way.
 * Conv -> ReLU pairs are fused for inference (../engine/fuse-relu.ts).
 */

/** Saved weights of the loads in progress, by load id then index (strings in the topology get camelCased). */
const pending = new Map<number, Map<number, ManifestWeight>>();
let nextLoad = 0;
let fallbacks = 0;

/** Loads that fell back to tfjs's loader, for tests. */
export const inferenceLoadFallbacks = () => fallbacks;

function fallback(dir: string): Promise<tfTypes.LayersModel> {
  fallbacks++;
  return loadLayersModelFromDir(dir, { inference: true });
}

/** The initializer the rewritten topology names: the saved weight, checked against the layer's shape. */
class SavedWeight extends tf.serialization.Serializable {
  static readonly className = 'AgegenderSavedWeight';
  constructor(private readonly args: { load: number; index: number }) {
    super();
  }
  override getClassName(): string {
    return SavedWeight.className;
  }
  getConfig(): tfTypes.serialization.ConfigDict {
    return { ...this.args };
  }
  apply(shape: number[]): tfTypes.Tensor {
    const saved = pending.get(this.args.load)?.get(this.args.index);
    if (!saved || saved.shape.join() !== shape.join())
      throw new Error(`saved weight ${this.args.index} does not fit the layer's shape [${shape}]`);
    pending.get(this.args.load)!.delete(this.args.index);
    return filledTensor(tf, shape, saved.fill);
  }
}
tf.serialization.registerClass(SavedWeight);

/**
 * Every weight, or null when one is stored in a way this loader does not place (not float32 or float16, a
 * name given twice, bytes missing): tfjs's own loader then takes the bundle.
 */
function savedWeights(
  specs: tfTypes.io.WeightsManifestEntry[],
  data: ArrayBuffer,
): Map<string, ManifestWeight> | null {
  const plain = (w: tfTypes.io.WeightsManifestEntry) =>
    w.dtype === 'float32' && (!w.quantization || w.quantization.dtype === 'float16');
  if (!specs.every(plain)) return null;
  try {
    return manifestWeights(specs as ManifestEntry[], new Uint8Array(data));
  } catch {
    return null;
  }
}

interface LayerJson {
  class_name: string;
  config: Record<string, unknown>;
}

/** Loads the network of bundle `dir` to predict (see above). */
export async function loadInferenceModel(dir: string): Promise<tfTypes.LayersModel> {
  const artifacts = await readModelArtifacts(dir);
  const data = artifacts.weightData;
  const weights =
    data instanceof ArrayBuffer && artifacts.modelTopology
      ? savedWeights(artifacts.weightSpecs ?? [], data)
      : null;
  if (!weights) return fallback(dir);
  const topology = fuseConvRelu(artifacts.modelTopology as object) as {
    config?: { layers?: LayerJson[] };
    model_config?: { config?: { layers?: LayerJson[] } };
  };
  const layers = topology.config?.layers ?? topology.model_config?.config?.layers ?? [];
  const load = nextLoad++;
  const byIndex = new Map<number, ManifestWeight>();
  for (const layer of layers) {
    for (const key of Object.keys(layer.config)) {
      if (!key.endsWith('_initializer') || !layer.config[key]) continue;
      const weight = `${String(layer.config.name)}/${key.slice(0, -'_initializer'.length)}`;
      if (!weights.has(weight)) continue;
      const index = byIndex.size;
      byIndex.set(index, weights.get(weight)!);
      weights.delete(weight);
      layer.config[key] = { class_name: SavedWeight.className, config: { load, index } };
    }
  }
  // Every saved weight must be placed, or the model is loaded the ordinary way.
  if (weights.size > 0) return fallback(dir);
  const placed = byIndex.size;
  pending.set(load, byIndex);
  try {
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: topology }));
    if (pending.get(load)!.size > 0 || model.weights.length !== placed) {
      model.dispose();
      return fallback(dir);
    }
    return model;
  } finally {
    pending.delete(load);
  }
}
