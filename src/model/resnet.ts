import * as tf from '@tensorflow/tfjs';
import { ageGenderHeads } from './heads.js';

/**
 * Compact residual networks for small face crops on a CPU budget: a 3x3 stride-2 stem, stages of one
 * basic residual block each (conv-BN-ReLU-conv-BN + shortcut, the first conv of a stage strided),
 * global average pooling, dropout, and the two logit heads. Global pooling keeps the parameter count
 * independent of the input size (unlike basic-cnn's flatten), batch norm lets Adam use a high learning
 * rate, and early downsampling keeps the per-image cost low: most of a CPU training step goes to the
 * high-resolution layers, so channels are spent where the maps are small.
 */
export interface ResNetConfig {
  /** Channels of the stem, then of each stage. */
  widths: number[];
  /** Dropout before the heads. */
  dropout: number;
  /** 'conv-pool': 3x3 conv at full resolution then 2x2 max-pool; 'strided': one 3x3 conv of stride 2 (cheaper). */
  stem: 'conv-pool' | 'strided';
  /** Stride of each stage's first conv (default: 1 for the first stage, 2 after). */
  strides?: number[];
}

/**
 * At 64x64 input, stages at 16x16 (48 ch), 8x8 (96) and 4x4 (192); 0.71M parameters, ~2.3x basic-cnn's
 * training images/s on wasm, ~4x with oneDNN (bench/arch-speed.ts, with engine/batchnorm-train.ts).
 */
export const RESNET_S: ResNetConfig = {
  widths: [32, 48, 96, 192],
  dropout: 0.3,
  stem: 'strided',
  strides: [2, 2, 2],
};
/**
 * The default: resnet-m at half the width (stages at 32/16/8/4 with 16..128 channels), 0.32M parameters,
 * ~3x basic-cnn's training images/s on wasm (~4x with oneDNN); on a CPU budget more epochs beat more capacity.
 */
export const RESNET_XS: ResNetConfig = { widths: [16, 16, 32, 64, 128], dropout: 0.2, stem: 'strided' };
/** Four stages with a 32x32 one (32..256 channels): more capacity, 1.2x basic-cnn's speed on wasm (2.3x with oneDNN). */
export const RESNET_M: ResNetConfig = { widths: [32, 32, 64, 128, 256], dropout: 0.3, stem: 'strided' };

export function buildResNet(
  opts: { imageSize: number; seed?: number },
  cfg: ResNetConfig,
  name = 'resnet_s',
): tf.LayersModel {
  let seed = opts.seed ?? 1;
  const he = () => tf.initializers.heNormal({ seed: seed++ });
  const conv = (x: tf.SymbolicTensor, filters: number, kernelSize: number, strides: number, n: string) =>
    tf.layers
      .conv2d({
        filters,
        kernelSize,
        strides,
        padding: 'same',
        useBias: false,
        kernelInitializer: he(),
        name: n,
      })
      .apply(x) as tf.SymbolicTensor;
  const bn = (x: tf.SymbolicTensor, n: string, zeroGamma = false) =>
    tf.layers
      .batchNormalization({ momentum: 0.9, gammaInitializer: zeroGamma ? 'zeros' : 'ones', name: n })
      .apply(x) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor, n: string) => tf.layers.reLU({ name: n }).apply(x) as tf.SymbolicTensor;

  const input = tf.input({ shape: [opts.imageSize, opts.imageSize, 3], name: 'image' });
  const [stemWidth, ...stages] = cfg.widths as [number, ...number[]];
  // Stem at full resolution, then halve: the first residual stage works at S/2.
  const stemStride = cfg.stem === 'strided' ? 2 : 1;
  let x = relu(bn(conv(input, stemWidth, 3, stemStride, 'stem_conv'), 'stem_bn'), 'stem_relu');
  if (cfg.stem === 'conv-pool') {
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'stem_pool' }).apply(x) as tf.SymbolicTensor;
  }
  let channels = stemWidth;
  stages.forEach((width, i) => {
    const stride = cfg.strides?.[i] ?? (i === 0 ? 1 : 2);
    const p = `s${i + 1}`;
    let y = relu(bn(conv(x, width, 3, stride, `${p}_conv1`), `${p}_bn1`), `${p}_relu1`);
    // Zero-initialised last BN gamma: each block starts as the identity, which trains faster.
    y = bn(conv(y, width, 3, 1, `${p}_conv2`), `${p}_bn2`, true);
    let shortcut = x;
    if (stride !== 1 || width !== channels) {
      shortcut = bn(conv(x, width, 1, stride, `${p}_proj`), `${p}_proj_bn`);
    }
    x = relu(tf.layers.add({ name: `${p}_add` }).apply([y, shortcut]) as tf.SymbolicTensor, `${p}_out`);
    channels = width;
  });
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const [age, gender] = ageGenderHeads({ hidden: 0, dropout: cfg.dropout, seed })(x);
  return tf.model({ inputs: input, outputs: [age, gender], name });
}
