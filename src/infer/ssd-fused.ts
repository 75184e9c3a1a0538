import type * as tfTypes from '@tensorflow/tfjs';
import type { Rgb } from '../data/square.js';
import { filledTensor } from './filled-tensor.js';
import type { Detection } from './types.js';

/**
 * face-api's SSD MobileNetV1 face detector, the same network and weights computed with fused kernels.
 * face-api runs each layer as 3 kernels (conv, then a bias add or batch norm, then a clip to [0, 6]) and
 * its non-max suppression downloads all of its boxes again for every pair it compares. Here each layer is
 * one fused convolution (bias and relu6 inside the kernel; the depthwise layers' batch norm folded into
 * their filters and bias), the input (pad, resize, scale) and the output layer (anchors, sigmoid) are plain
 * JS passes over the pixels and the values read back, and the boxes are read once. Same answers to float rounding (test/ssd-fused.test.ts compares with face-api's own); on the
 * bench's 8 group photos it takes 28% less CPU than face-api's detectAllFaces (140 vs 194 ms per photo,
 * wasm+dnnl, 2 threads, same process, alternated).
 * Pure tfjs: the Node detector and the browser entry share it.
 */

/** The parameter tensors of face-api's loaded SsdMobilenetv1 (`nets.ssdMobilenetv1.params`). */
export interface SsdParams {
  mobilenetv1: Record<
    string,
    PointwiseParams | { depthwise_conv: DepthwiseParams; pointwise_conv: PointwiseParams }
  >;
  prediction_layer: Record<string, PointwiseParams | BoxPredictorParams>;
  output_layer: { extra_dim: tfTypes.Tensor3D };
}
interface PointwiseParams {
  filters: tfTypes.Tensor4D;
  batch_norm_offset: tfTypes.Tensor1D;
}
interface DepthwiseParams {
  filters: tfTypes.Tensor4D;
  batch_norm_scale: tfTypes.Tensor1D;
  batch_norm_offset: tfTypes.Tensor1D;
  batch_norm_mean: tfTypes.Tensor1D;
  batch_norm_variance: tfTypes.Tensor1D;
}
interface ConvParams {
  filters: tfTypes.Tensor4D;
  bias: tfTypes.Tensor1D;
}
interface BoxPredictorParams {
  box_encoding_predictor: ConvParams;
  class_predictor: ConvParams;
}

/** A convolution with its bias, applied as one fused kernel (1x1 or 3x3, 'same' padding). */
interface Fused {
  filter: tfTypes.Tensor4D;
  bias: tfTypes.Tensor1D;
}

/** face-api's input side: images are padded to a square (bottom or right) and resized to it. */
const INPUT_SIZE = 512;
/** face-api's batch-norm epsilon (mobileNetV1.ts). */
const EPSILON = 0.0010000000474974513;
/** face-api's non-max suppression overlap (SsdMobilenetv1.locateFaces). */
const IOU_THRESHOLD = 0.5;

export interface FusedSsd {
  detect(image: Rgb, minConfidence: number, maxResults: number): Promise<Detection[]>;
  dispose(): void;
}

/** Builds the fused network from face-api's loaded parameters (which stay face-api's). */
export function fusedSsd(tf: typeof tfTypes, params: SsdParams): FusedSsd {
  const pointwise = (p: PointwiseParams): Fused => ({ filter: p.filters, bias: p.batch_norm_offset });
  // Batch norm after the depthwise conv, (x - mean) / sqrt(var + eps) * scale + offset, is x * s + b with
  // s = scale / sqrt(var + eps) per channel: s goes into the filter, b becomes the bias.
  const depthwise = (p: DepthwiseParams): Fused =>
    tf.tidy(() => {
      const s = tf.mul(tf.rsqrt(tf.add(p.batch_norm_variance, EPSILON)), p.batch_norm_scale);
      const filter = tf.mul(p.filters, tf.reshape(s, [1, 1, -1, 1])) as tfTypes.Tensor4D;
      const bias = tf.sub(p.batch_norm_offset, tf.mul(p.batch_norm_mean, s)) as tfTypes.Tensor1D;
      return { filter: tf.keep(filter), bias: tf.keep(bias) };
    });
  const m = params.mobilenetv1;
  const conv0 = pointwise(m.conv_0 as PointwiseParams);
  const pairs = Array.from({ length: 13 }, (_, i) => {
    const p = m[`conv_${i + 1}`] as { depthwise_conv: DepthwiseParams; pointwise_conv: PointwiseParams };
    return {
      dw: depthwise(p.depthwise_conv),
      pw: pointwise(p.pointwise_conv),
      stride: [2, 4, 6, 12].includes(i + 1) ? 2 : 1,
    };
  });
  const pl = params.prediction_layer;
  const extra = Array.from({ length: 8 }, (_, i) => pointwise(pl[`conv_${i}`] as PointwiseParams));
  const predictors = Array.from({ length: 6 }, (_, i) => {
    const p = pl[`box_predictor_${i}`] as BoxPredictorParams;
    const enc = p.box_encoding_predictor;
    const cls = p.class_predictor;
    return { box: { filter: enc.filters, bias: enc.bias }, cls: { filter: cls.filters, bias: cls.bias } };
  });
  // The anchors [ymin, xmin, ymax, xmax] per box, read once: the output layer runs in JS (decodeBoxes).
  const anchors = params.output_layer.extra_dim.dataSync() as Float32Array;

  const conv = (x: tfTypes.Tensor4D, f: Fused, stride: number, activation: 'relu6' | 'linear') =>
    tf.fused.conv2d({ x, filter: f.filter, strides: stride, pad: 'same', bias: f.bias, activation });
  const dwConv = (x: tfTypes.Tensor4D, f: Fused, stride: number) =>
    tf.fused.depthwiseConv2d({
      x,
      filter: f.filter,
      strides: stride,
      pad: 'same',
      bias: f.bias,
      activation: 'relu6',
    });

  /** Box encodings [1, n, 4] and class logits [1, n, 3] of the 512 x 512 input, as face-api's predictionLayer. */
  function network(x: tfTypes.Tensor4D): [encodings: tfTypes.Tensor, logits: tfTypes.Tensor] {
    let out = conv(x, conv0, 2, 'relu6');
    let conv11 = out;
    pairs.forEach((p, i) => {
      out = conv(dwConv(out, p.dw, p.stride), p.pw, 1, 'relu6');
      if (i + 1 === 11) conv11 = out;
    });
    const c0 = conv(out, extra[0]!, 1, 'relu6');
    const c1 = conv(c0, extra[1]!, 2, 'relu6');
    const c2 = conv(c1, extra[2]!, 1, 'relu6');
    const c3 = conv(c2, extra[3]!, 2, 'relu6');
    const c4 = conv(c3, extra[4]!, 1, 'relu6');
    const c5 = conv(c4, extra[5]!, 2, 'relu6');
    const c6 = conv(c5, extra[6]!, 1, 'relu6');
    const c7 = conv(c6, extra[7]!, 2, 'relu6');
    const sources = [conv11, out, c1, c3, c5, c7];
    const boxes = sources.map((s, i) => tf.reshape(conv(s, predictors[i]!.box, 1, 'linear'), [1, -1, 1, 4]));
    const classes = sources.map((s, i) => tf.reshape(conv(s, predictors[i]!.cls, 1, 'linear'), [1, -1, 3]));
    return [tf.concat(boxes, 1), tf.concat(classes, 1)];
  }

  // Only the folded depthwise tensors are ours; the rest are face-api's parameters.
  const owned = pairs.map((p) => p.dw);
  return {
    async detect(image, minConfidence, maxResults) {
      const { width, height } = image;
      const side = Math.max(width, height);
      const [encodingsT, logitsT] = tf.tidy(() => {
        const x = filledTensor(tf, [1, INPUT_SIZE, INPUT_SIZE, 3], (o) =>
          writeInput(o, image),
        ) as tfTypes.Tensor4D;
        return network(x);
      });
      let encodings: Float32Array;
      let logits: Float32Array;
      try {
        [encodings, logits] = (await Promise.all([encodingsT.data(), logitsT.data()])) as [
          Float32Array,
          Float32Array,
        ];
      } finally {
        encodingsT.dispose();
        logitsT.dispose();
      }
      const { boxes, scores } = decodeBoxes(encodings, logits, anchors);
      // face-api's locateFaces: boxes are fractions of the padded square; the image filled this much of it.
      const scale = INPUT_SIZE / side;
      const padX = INPUT_SIZE / Math.round(width * scale);
      const padY = INPUT_SIZE / Math.round(height * scale);
      return nonMaxSuppression(boxes, scores, maxResults, IOU_THRESHOLD, minConfidence).map((i) => {
        const top = Math.max(0, boxes[i * 4]!) * padY;
        const bottom = Math.min(1, boxes[i * 4 + 2]!) * padY;
        const left = Math.max(0, boxes[i * 4 + 1]!) * padX;
        const right = Math.min(1, boxes[i * 4 + 3]!) * padX;
        return {
          score: scores[i]!,
          box: { x: left * width, y: top * height, w: (right - left) * width, h: (bottom - top) * height },
        };
      });
    },
    dispose() {
      for (const f of owned) tf.dispose([f.filter, f.bias]);
    },
  };
}

/**
 * face-api's outputLayer, in JS on the values read back: anchor-relative box encodings [n, 4] -> boxes
 * [ymin, xmin, ymax, xmax] as fractions of the input, and class logits [n, 3] -> the face score, the
 * sigmoid of class 1. tfjs took some thirty small kernels for this.
 */
export function decodeBoxes(
  encodings: Float32Array,
  logits: Float32Array,
  anchors: Float32Array,
): { boxes: Float32Array; scores: Float32Array } {
  const n = anchors.length / 4;
  const boxes = new Float32Array(n * 4);
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const [a0, a1, a2, a3] = [anchors[i * 4]!, anchors[i * 4 + 1]!, anchors[i * 4 + 2]!, anchors[i * 4 + 3]!];
    const [v0, v1, v2, v3] = [
      encodings[i * 4]!,
      encodings[i * 4 + 1]!,
      encodings[i * 4 + 2]!,
      encodings[i * 4 + 3]!,
    ];
    const h = a2 - a0;
    const w = a3 - a1;
    const halfH = (Math.exp(v2 / 5) * h) / 2;
    const halfW = (Math.exp(v3 / 5) * w) / 2;
    const cy = (v0 / 10) * h + (a0 + h / 2);
    const cx = (v1 / 10) * w + (a1 + w / 2);
    boxes.set([cy - halfH, cx - halfW, cy + halfH, cx + halfW], i * 4);
    scores[i] = 1 / (1 + Math.exp(-logits[i * 3 + 1]!));
  }
  return { boxes, scores };
}

/**
 * face-api's toBatchTensor + forwardInput in one pass over the pixels, written into the network's input
 * `out` (INPUT_SIZE squared, HWC): the image padded to a square at the bottom or right with zeros, resized
 * bilinearly to INPUT_SIZE as tf.image.resizeBilinear (corners not aligned: source = output * ratio), then
 * x / 127.5 - 1. tfjs did this as five kernels over full-size float copies of the photo (about twice the
 * CPU). Separable: each source row is resampled across once, then pairs of rows are blended.
 */
export function writeInput(out: Float32Array, image: Rgb): void {
  const { data, width, height } = image;
  const ratio = Math.max(width, height) / INPUT_SIZE;
  const last = Math.max(width, height) - 1;
  // Per output column: the two source columns and their weights (0 for a column in the padding).
  const left = new Int32Array(INPUT_SIZE);
  const right = new Int32Array(INPUT_SIZE);
  const wl = new Float32Array(INPUT_SIZE);
  const wr = new Float32Array(INPUT_SIZE);
  for (let c = 0; c < INPUT_SIZE; c++) {
    const f = c * ratio;
    const a = Math.floor(f);
    const b = Math.min(last, Math.ceil(f));
    left[c] = Math.min(a, width - 1) * 3;
    right[c] = Math.min(b, width - 1) * 3;
    wl[c] = a < width ? 1 - (f - a) : 0;
    wr[c] = b < width ? f - a : 0;
  }
  const across = (y: number, row: Float32Array) => {
    if (y >= height) return row.fill(0);
    const base = y * width * 3;
    for (let c = 0, o = 0; c < INPUT_SIZE; c++, o += 3) {
      const a = base + left[c]!;
      const b = base + right[c]!;
      const u = wl[c]!;
      const v = wr[c]!;
      row[o] = data[a]! * u + data[b]! * v;
      row[o + 1] = data[a + 1]! * u + data[b + 1]! * v;
      row[o + 2] = data[a + 2]! * u + data[b + 2]! * v;
    }
    return row;
  };
  let top = new Float32Array(INPUT_SIZE * 3);
  let bottom = new Float32Array(INPUT_SIZE * 3);
  let topY = -1;
  let bottomY = -1;
  for (let r = 0; r < INPUT_SIZE; r++) {
    const f = r * ratio;
    const y0 = Math.floor(f);
    const y1 = Math.min(last, Math.ceil(f));
    if (y0 === bottomY) [top, bottom, topY, bottomY] = [bottom, top, bottomY, topY];
    if (y0 !== topY) across((topY = y0), top);
    if (y1 !== bottomY) across((bottomY = y1), bottom);
    const fy = f - y0;
    const o = r * INPUT_SIZE * 3;
    for (let i = 0; i < INPUT_SIZE * 3; i++) out[o + i] = (top[i]! + (bottom[i]! - top[i]!) * fy) / 127.5 - 1;
  }
}

/** face-api's greedy non-max suppression (ssdMobilenetv1/nonMaxSuppression.ts), on boxes read once. */
export function nonMaxSuppression(
  boxes: Float32Array,
  scores: Float32Array,
  maxOutputSize: number,
  iouThreshold: number,
  scoreThreshold: number,
): number[] {
  const outputSize = Math.min(maxOutputSize, scores.length);
  const candidates = Array.from(scores, (score, boxIndex) => ({ score, boxIndex }))
    .filter((c) => c.score > scoreThreshold)
    .sort((c1, c2) => c2.score - c1.score);
  const selected: number[] = [];
  for (const c of candidates) {
    if (selected.length >= outputSize) break;
    const original = c.score;
    for (let j = selected.length - 1; j >= 0; --j) {
      const overlap = iou(boxes, c.boxIndex, selected[j]!);
      if (overlap === 0) continue;
      c.score *= overlap <= iouThreshold ? 1 : 0;
      if (c.score <= scoreThreshold) break;
    }
    if (original === c.score) selected.push(c.boxIndex);
  }
  return selected;
}

function iou(b: Float32Array, i: number, j: number): number {
  const [yminI, xminI, ymaxI, xmaxI] = corners(b, i);
  const [yminJ, xminJ, ymaxJ, xmaxJ] = corners(b, j);
  const areaI = (ymaxI - yminI) * (xmaxI - xminI);
  const areaJ = (ymaxJ - yminJ) * (xmaxJ - xminJ);
  if (areaI <= 0 || areaJ <= 0) return 0;
  const h = Math.max(Math.min(ymaxI, ymaxJ) - Math.max(yminI, yminJ), 0);
  const w = Math.max(Math.min(xmaxI, xmaxJ) - Math.max(xminI, xminJ), 0);
  return (h * w) / (areaI + areaJ - h * w);
}

function corners(b: Float32Array, i: number): [number, number, number, number] {
  const [y0, x0, y1, x1] = [b[i * 4]!, b[i * 4 + 1]!, b[i * 4 + 2]!, b[i * 4 + 3]!];
  return [Math.min(y0, y1), Math.min(x0, x1), Math.max(y0, y1), Math.max(x0, x1)];
}
