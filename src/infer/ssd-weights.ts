import type * as tfTypes from '@tensorflow/tfjs';
import { manifestWeights, type ManifestEntry, type ManifestWeight } from '../engine/weight-manifest.js';
import { filledTensor } from './filled-tensor.js';
import type { SsdParams } from './ssd-fused.js';

/**
 * face-api's SSD MobileNetV1 weights (its ssd_mobilenetv1_model-weights_manifest.json and .bin) as the
 * parameter tree its SsdMobilenetv1 builds (ssdMobilenetv1/extractParamsFromWeightMap.ts), read without
 * face-api: its loader costs ~150 ms of CPU at every cold start (the module, then tfjs's generic
 * dequantization), this ~60 (engine/weight-manifest.ts decodes the values as tfjs does). Pure (no Node
 * API): the caller reads the files.
 */

export type SsdManifest = { paths: string[]; weights: ManifestEntry[] }[];

/** The parameter tree of the manifest's weights, as tensors of `tf` (the caller's for good: never freed). */
export function ssdParamsFromWeights(
  tf: typeof tfTypes,
  manifest: SsdManifest,
  files: (path: string) => Uint8Array,
): SsdParams {
  const weights = new Map<string, ManifestWeight>();
  for (const group of manifest) {
    const parts = group.paths.map(files);
    const data = parts.length === 1 ? parts[0]! : concat(parts);
    try {
      for (const [name, w] of manifestWeights(group.weights, data)) weights.set(name, w);
    } catch (err) {
      throw new Error(`SSD ${(err as Error).message}`);
    }
  }
  const take = (name: string, rank: number) => {
    const w = weights.get(name);
    if (!w || w.shape.length !== rank) throw new Error(`SSD weights: no rank-${rank} weight ${name}`);
    return filledTensor(tf, w.shape, w.fill);
  };
  const pointwise = (prefix: string, i: number) => ({
    filters: take(`${prefix}/Conv2d_${i}_pointwise/weights`, 4) as tfTypes.Tensor4D,
    batch_norm_offset: take(`${prefix}/Conv2d_${i}_pointwise/convolution_bn_offset`, 1) as tfTypes.Tensor1D,
  });
  const mobilenetv1: SsdParams['mobilenetv1'] = { conv_0: pointwise('MobilenetV1', 0) };
  for (let i = 1; i <= 13; i++) {
    const dw = `MobilenetV1/Conv2d_${i}_depthwise`;
    mobilenetv1[`conv_${i}`] = {
      depthwise_conv: {
        filters: take(`${dw}/depthwise_weights`, 4) as tfTypes.Tensor4D,
        batch_norm_scale: take(`${dw}/BatchNorm/gamma`, 1) as tfTypes.Tensor1D,
        batch_norm_offset: take(`${dw}/BatchNorm/beta`, 1) as tfTypes.Tensor1D,
        batch_norm_mean: take(`${dw}/BatchNorm/moving_mean`, 1) as tfTypes.Tensor1D,
        batch_norm_variance: take(`${dw}/BatchNorm/moving_variance`, 1) as tfTypes.Tensor1D,
      },
      pointwise_conv: pointwise('MobilenetV1', i),
    };
  }
  const prediction_layer: SsdParams['prediction_layer'] = {};
  for (let i = 0; i < 8; i++) prediction_layer[`conv_${i}`] = pointwise('Prediction', i);
  const conv = (prefix: string) => ({
    filters: take(`${prefix}/weights`, 4) as tfTypes.Tensor4D,
    bias: take(`${prefix}/biases`, 1) as tfTypes.Tensor1D,
  });
  for (let i = 0; i < 6; i++)
    prediction_layer[`box_predictor_${i}`] = {
      box_encoding_predictor: conv(`Prediction/BoxPredictor_${i}/BoxEncodingPredictor`),
      class_predictor: conv(`Prediction/BoxPredictor_${i}/ClassPredictor`),
    };
  return {
    mobilenetv1,
    prediction_layer,
    output_layer: { extra_dim: take('Output/extra_dim', 3) as tfTypes.Tensor3D },
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
