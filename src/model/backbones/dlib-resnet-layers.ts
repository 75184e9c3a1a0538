import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError, reason } from '../../util/errors.js';
import type { BackboneLayers } from './backbone.js';

/**
 * The dlib face-recognition ResNet (Davis King, dlib 19.x, released into the public domain; trained on ~3M
 * faces), as shipped in tfjs form by @vladmandic/face-api (model/face_recognition_model.*), rebuilt from
 * plain tfjs layers so that a network made of it saves as an ordinary layers model that loads in Node and
 * in the browser with `tf.loadLayersModel` and trains with our wasm kernels.
 *
 * It mirrors face-api's FaceRecognitionNet.forwardInput op for op (checked in test/model-dlib-resnet.test.ts):
 * - each conv is `conv(x) + bias`, then dlib's affine "scale" layer `* w + b`; both are folded into one
 *   conv2d with bias (exact: conv(x, W) * s + (bias * s + b) = conv(x, W * s) + ...);
 * - residualDown's shortcut is a 2x2 average pool whose channels are zero-padded to the block's width; here
 *   that is a frozen 1x1 conv with an identity-then-zeros kernel (a standard layer, so the model stays
 *   serialisable without custom layers). Where the strided 'valid' conv comes out one pixel smaller than
 *   the pool, the conv branch is zero-padded at the bottom/right, as face-api does.
 *
 * Input: [N, 150, 150, 3] RGB normalised as (x - mean) / 255 (model/backbones/dlib-resnet.ts). Stages at 35x35 (32
 * channels), 17x17 (64), 8x8 (128), 4x4 and 2x2 (256), global average pooling to 256 values, then the
 * 256 -> 128 face descriptor.
 */

/** The blocks in order: name in face-api's weight file, kind, output channels. */
const BLOCKS: { name: string; down: boolean; width: number }[] = [
  { name: 'conv32_1', down: false, width: 32 },
  { name: 'conv32_2', down: false, width: 32 },
  { name: 'conv32_3', down: false, width: 32 },
  { name: 'conv64_down', down: true, width: 64 },
  { name: 'conv64_1', down: false, width: 64 },
  { name: 'conv64_2', down: false, width: 64 },
  { name: 'conv64_3', down: false, width: 64 },
  { name: 'conv128_down', down: true, width: 128 },
  { name: 'conv128_1', down: false, width: 128 },
  { name: 'conv128_2', down: false, width: 128 },
  { name: 'conv256_down', down: true, width: 256 },
  { name: 'conv256_1', down: false, width: 256 },
  { name: 'conv256_2', down: false, width: 256 },
  { name: 'conv256_down_out', down: true, width: 256 },
];

const require = createRequire(import.meta.url);

/** The face-api weight files (manifest + binary) inside node_modules. */
export function dlibWeightFiles(): { manifest: string; bin: string } {
  const dir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  return {
    manifest: path.join(dir, 'face_recognition_model-weights_manifest.json'),
    bin: path.join(dir, 'face_recognition_model.bin'),
  };
}

/** face-api's weights by name (dequantised to float32). Caller disposes. */
async function readDlibWeights(): Promise<tf.NamedTensorMap> {
  const files = dlibWeightFiles();
  try {
    const manifest = JSON.parse(await fs.readFile(files.manifest, 'utf8')) as tf.io.WeightsManifestConfig;
    const bin = await fs.readFile(files.bin);
    const specs = manifest.flatMap((group) => group.weights);
    const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
    return tf.io.decodeWeights(buffer, specs);
  } catch (err) {
    throw new UserError(`${files.bin}: cannot read the dlib face-recognition weights: ${reason(err)}`);
  }
}

/** Folded conv weights for one of face-api's conv layers: kernel * scale, bias * scale + shift. */
function folded(w: tf.NamedTensorMap, prefix: string): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const get = (n: string) => {
      const t = w[`${prefix}/${n}`];
      if (!t) throw new UserError(`dlib weights: ${prefix}/${n} missing`);
      return t;
    };
    const s = get('scale/weights');
    return [get('conv/filters').mul(s), get('conv/bias').mul(s).add(get('scale/biases'))];
  });
}

/**
 * Builds the backbone as layers holding face-api's weights. `trunk` and `tail` apply the same layer
 * objects every call (shared weights), so one build serves the feature extractor and the exported
 * image -> age/gender model.
 */
export async function buildDlibResNet(
  /** The block that ends the trunk: the split between `trunk` and `tail`. */
  trunkEnd: string,
  inputSize: number,
): Promise<BackboneLayers> {
  const w = await readDlibWeights();
  const assign: [tf.layers.Layer, tf.Tensor[]][] = [];
  const conv = (
    name: string,
    filters: number,
    kernel: number,
    strides: number,
    padding: 'same' | 'valid',
  ) => {
    const layer = tf.layers.conv2d({
      filters,
      kernelSize: kernel,
      strides,
      padding,
      name: `dlib_${name.replace(/\//g, '_')}`,
    });
    assign.push([layer, folded(w, name)]);
    return layer;
  };
  let reluCount = 0;
  // Every activation is its own layer object, created once per position, so re-applying reuses it.
  const reluAt = new Map<string, tf.layers.Layer>();
  const relu = (key: string, x: tf.SymbolicTensor) => {
    let layer = reluAt.get(key);
    if (!layer) reluAt.set(key, (layer = tf.layers.reLU({ name: `dlib_relu_${reluCount++}` })));
    return layer.apply(x) as tf.SymbolicTensor;
  };
  const blockFns = BLOCKS.map((b) => {
    const c1 = conv(`${b.name}/conv1`, b.width, 3, b.down ? 2 : 1, b.down ? 'valid' : 'same');
    const c2 = conv(`${b.name}/conv2`, b.width, 3, 1, 'same');
    const add = tf.layers.add({ name: `dlib_${b.name}_add` });
    const pool = b.down
      ? tf.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'valid', name: `dlib_${b.name}_pool` })
      : null;
    let pad: tf.layers.Layer | null = null;
    let widen: tf.layers.Layer | null = null;
    return (x: tf.SymbolicTensor) => {
      let y = c2.apply(relu(`${b.name}/1`, c1.apply(x) as tf.SymbolicTensor)) as tf.SymbolicTensor;
      let short = x;
      if (pool) {
        short = pool.apply(x) as tf.SymbolicTensor;
        if (y.shape[1] !== short.shape[1]) {
          pad ??= tf.layers.zeroPadding2d({
            padding: [
              [0, 1],
              [0, 1],
            ],
            name: `dlib_${b.name}_pad`,
          });
          y = pad.apply(y) as tf.SymbolicTensor;
        }
        const inC = x.shape[3]!;
        if (inC !== b.width) {
          if (!widen) {
            widen = tf.layers.conv2d({
              filters: b.width,
              kernelSize: 1,
              useBias: false,
              trainable: false,
              name: `dlib_${b.name}_widen`,
            });
            assign.push([widen, [tf.tidy(() => tf.eye(inC, b.width).reshape([1, 1, inC, b.width]))]]);
          }
          short = widen.apply(short) as tf.SymbolicTensor;
        }
      }
      return relu(`${b.name}/out`, add.apply([y, short]) as tf.SymbolicTensor);
    };
  });
  const split = BLOCKS.findIndex((b) => b.name === trunkEnd);
  if (split < 0) throw new Error(`dlib-resnet: no block named ${trunkEnd}`);
  const stem = conv('conv32_down', 32, 7, 2, 'valid');
  const stemPool = tf.layers.maxPooling2d({
    poolSize: 3,
    strides: 2,
    padding: 'valid',
    name: 'dlib_stem_pool',
  });
  const gap = tf.layers.globalAveragePooling2d({ name: 'dlib_gap' });
  const trunk = (image: tf.SymbolicTensor) => {
    let x = stemPool.apply(relu('stem', stem.apply(image) as tf.SymbolicTensor)) as tf.SymbolicTensor;
    for (let i = 0; i <= split; i++) x = blockFns[i]!(x);
    return x;
  };
  const tail = (map: tf.SymbolicTensor) => {
    let y = map;
    for (let i = split + 1; i < BLOCKS.length; i++) y = blockFns[i]!(y);
    return gap.apply(y) as tf.SymbolicTensor;
  };
  // Layers get their weight variables when first applied: build them all once, then load the weights.
  tail(trunk(tf.input({ shape: [inputSize, inputSize, 3] })));
  for (const [layer, weights] of assign) layer.setWeights(weights);
  tf.dispose(assign.flatMap(([, ws]) => ws));
  tf.dispose(Object.values(w));
  return { trunk, tail };
}

/** The descriptor layer (256 -> 128, no bias) of face-api's net, for the equivalence test. */
export async function dlibDescriptorMatrix(): Promise<tf.Tensor2D> {
  const w = await readDlibWeights();
  const fc = w['fc'] as tf.Tensor2D;
  for (const [k, t] of Object.entries(w)) if (k !== 'fc') t.dispose();
  return fc;
}
