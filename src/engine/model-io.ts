import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tfjs.js';
import { writeDirAtomic } from '../util/atomic.js';
import type { WeightStorage } from './engine-options.js';
import { toFloat16 } from './float16.js';
import { fuseConvRelu } from './fuse-relu.js';
import { UserError, reason } from '../util/errors.js';

/** File names of the tfjs layers format, as `tf.loadLayersModel('.../model.json')` expects in a browser. */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

function concatWeightData(data: ArrayBuffer | ArrayBuffer[]): Uint8Array {
  const parts = Array.isArray(data) ? data : [data];
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), off);
    off += p.byteLength;
  }
  return out;
}

/**
 * Writes model.json + weights.bin into `dir` (created) without tfjs-node: the tfjs layers format, one
 * weight shard, loadable in Node with `loadLayersModelFromDir` and in a browser with `tf.loadLayersModel`.
 * `extraFiles` (e.g. preprocess.json) are written into the same directory; with `atomic` the whole
 * directory appears at once (rename of a finished temp directory).
 */
export async function saveLayersModelToDir(
  model: tfTypes.LayersModel,
  dir: string,
  opts: {
    includeOptimizer?: boolean;
    extraFiles?: Record<string, string | Uint8Array>;
    atomic?: boolean;
    /**
     * 'float16' stores float32 weights as half precision (tfjs's float16 quantization: half the bytes;
     * tfjs's loaders, in Node and the browser, turn them back into float32).
     */
    weights?: WeightStorage;
  } = {},
): Promise<void> {
  const write = async (target: string) => {
    await fs.mkdir(target, { recursive: true });
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        let weights = concatWeightData(artifacts.weightData ?? new ArrayBuffer(0));
        let specs = artifacts.weightSpecs ?? [];
        if (opts.weights === 'float16') [weights, specs] = halveWeights(weights, specs);
        const modelJson = {
          format: artifacts.format ?? 'layers-model',
          generatedBy: artifacts.generatedBy,
          convertedBy: artifacts.convertedBy ?? null,
          modelTopology: artifacts.modelTopology,
          trainingConfig: artifacts.trainingConfig,
          weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: specs }],
        };
        await fs.writeFile(path.join(target, WEIGHTS_BIN), weights);
        await fs.writeFile(path.join(target, MODEL_JSON), JSON.stringify(modelJson));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
      { includeOptimizer: opts.includeOptimizer ?? false },
    );
    for (const [name, content] of Object.entries(opts.extraFiles ?? {})) {
      await fs.writeFile(path.join(target, name), content);
    }
  };
  if (opts.atomic ?? true) await writeDirAtomic(dir, write);
  else await write(dir);
}

/** The float32 weights of `specs` as float16 (tfjs's quantization entry added); others copied as they are. */
function halveWeights(
  data: Uint8Array,
  specs: tfTypes.io.WeightsManifestEntry[],
): [Uint8Array, tfTypes.io.WeightsManifestEntry[]] {
  const parts: Uint8Array[] = [];
  const out: tfTypes.io.WeightsManifestEntry[] = [];
  let at = 0;
  for (const spec of specs) {
    if (spec.quantization) throw new Error(`weight ${spec.name} is already quantized`);
    if (spec.dtype !== 'float32' && spec.dtype !== 'int32')
      throw new Error(`weight ${spec.name}: cannot halve a ${spec.dtype} weight`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = count * 4; // float32 and int32 alike
    const slice = data.slice(at, at + bytes);
    at += bytes;
    if (spec.dtype === 'float32') {
      const half = toFloat16(new Float32Array(slice.buffer, slice.byteOffset, count));
      parts.push(new Uint8Array(half.buffer));
      out.push({ ...spec, quantization: { dtype: 'float16' } });
    } else {
      parts.push(slice);
      out.push(spec);
    }
  }
  if (at !== data.length) throw new Error('weights: specs do not cover the weight data');
  // Each part owns its whole buffer (a slice, or a fresh Uint16Array), so the buffers are the parts.
  return [concatWeightData(parts.map((p) => p.buffer as ArrayBuffer)), out];
}

/** Reads model.json and its weight shards from `dir` into memory artifacts (no fetch, no tfjs-node). */
export async function readModelArtifacts(dir: string): Promise<tfTypes.io.ModelArtifacts> {
  const jsonPath = path.join(dir, MODEL_JSON);
  let json: {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tfTypes.io.WeightsManifestEntry[] }[];
    trainingConfig?: tfTypes.io.TrainingConfig;
    format?: string;
    generatedBy?: string;
    convertedBy?: string | null;
  };
  try {
    json = JSON.parse(await fs.readFile(jsonPath, 'utf8'));
  } catch (err) {
    throw new UserError(`${jsonPath}: cannot read model: ${reason(err)}`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new UserError(`${jsonPath}: not a tfjs layers model (no modelTopology / weightsManifest)`);
  }
  const specs: tfTypes.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const file = path.join(dir, p);
      try {
        buffers.push(await fs.readFile(file));
      } catch (err) {
        throw new UserError(`${file}: cannot read weights: ${reason(err)}`);
      }
    }
  }
  const expected = specs.reduce((n, w) => n + weightBytes(w), 0);
  const got = buffers.reduce((n, b) => n + b.byteLength, 0);
  if (got !== expected) {
    const files = json.weightsManifest.flatMap((g) => g.paths.map((p) => path.join(dir, p))).join(', ');
    throw new UserError(
      `${files}: ${got} bytes of weights, ${jsonPath} expects ${expected} (${got < expected ? 'truncated' : 'wrong file'}); ` +
        'copy or export the bundle again',
    );
  }
  return {
    modelTopology: json.modelTopology,
    weightSpecs: specs,
    weightData: oneBuffer(buffers),
    trainingConfig: json.trainingConfig,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
  };
}

/**
 * The weight files as one ArrayBuffer; a single file read whole is handed over as it is, not copied
 * twice (the default model's 21 MB were sliced, then concatenated: ~40 MB of copies at every load).
 */
function oneBuffer(buffers: Uint8Array[]): ArrayBuffer {
  const only = buffers.length === 1 ? buffers[0]! : null;
  if (only && only.byteOffset === 0 && only.byteLength === only.buffer.byteLength)
    return only.buffer as ArrayBuffer;
  return concatWeightData(
    buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer),
  ).buffer as ArrayBuffer;
}

const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/** Bytes one manifest entry takes in the weight files (quantized entries are stored in their own dtype). */
export function weightBytes(w: tfTypes.io.WeightsManifestEntry): number {
  const count = w.shape.reduce((a, b) => a * b, 1);
  const dtype = w.quantization?.dtype ?? w.dtype;
  return count * (DTYPE_BYTES[dtype] ?? 4);
}

/**
 * Loads a layers model saved by `saveLayersModelToDir` (or by tfjs-node / the Python converter). With
 * `inference`, each ReLU right after a convolution runs inside it (./fuse-relu.ts): same answers, fewer
 * kernels, but a topology not to train further.
 */
export async function loadLayersModelFromDir(
  dir: string,
  opts: { inference?: boolean } = {},
): Promise<tfTypes.LayersModel> {
  const artifacts = await readModelArtifacts(dir);
  if (opts.inference && artifacts.modelTopology)
    artifacts.modelTopology = fuseConvRelu(artifacts.modelTopology);
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (err) {
    throw new UserError(`${path.join(dir, MODEL_JSON)}: not a model tfjs can load: ${reason(err)}`);
  }
}
