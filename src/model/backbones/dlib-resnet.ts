import type { Backbone } from './backbone.js';

/**
 * Where the network is split: everything up to and including this block is the "trunk" (~90% of the
 * FLOPs), whose 8x8x128 map the feature taps read; the blocks after it are the "tail" (the two 256-wide
 * stages at 4x4 and 2x2, and the global pooling).
 */
const TRUNK_END = 'conv128_2';

/** The dlib face-recognition ResNet (dlib-resnet-layers.ts): the default model's backbone. */
export const DLIB_RESNET: Backbone = {
  name: 'dlib-resnet',
  id: `dlib-resnet/face-api-1.7/${TRUNK_END}`,
  source: '@vladmandic/face-api model/face_recognition_model (dlib, public domain)',
  inputSize: 150,
  normalization: { kind: 'mean-scale', mean: [122.782, 117.001, 104.298], scale: 1 / 255 },
  layerPrefix: 'dlib_',
  build: async () => (await import('./dlib-resnet-layers.js')).buildDlibResNet(TRUNK_END, 150),
};
