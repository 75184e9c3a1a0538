import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.js';
import { ARCHS, type Arch } from './arch-names.js';
import { buildBasicCnn } from './basic-cnn.js';
import { RESNET_M, RESNET_S, RESNET_XS, buildResNet } from './resnet.js';

export interface BuildOptions {
  imageSize: number;
  /**
   * Seeds the weight initialisers, so two builds with one seed start identical. Dropout masks are not
   * seeded on purpose: tfjs's seeded dropout draws the same mask at every step.
   */
  seed?: number;
}

export { ARCHS } from './arch-names.js';

const builders: Record<Arch, (opts: BuildOptions) => tf.LayersModel> = {
  'basic-cnn': (o) => buildBasicCnn(o),
  'resnet-s': (o) => buildResNet(o, RESNET_S, 'resnet_s'),
  'resnet-xs': (o) => buildResNet(o, RESNET_XS, 'resnet_xs'),
  'resnet-m': (o) => buildResNet(o, RESNET_M, 'resnet_m'),
};

/** Peak Adam learning rate that suits each network (batch norm tolerates a higher one). */
export const DEFAULT_LR: Record<Arch, number> = {
  'resnet-s': 2e-3,
  'resnet-xs': 2e-3,
  'resnet-m': 2e-3,
  'basic-cnn': 1e-3,
};

/** Builds a fresh (untrained) model: one input [N, S, S, 3], outputs `age` (101 logits), `gender` (2). */
export function buildModel(arch: string, opts: BuildOptions): tf.LayersModel {
  const build = Object.hasOwn(builders, arch) ? builders[arch as Arch] : undefined;
  if (!build) throw new UserError(`unknown network "${arch}" (one of ${ARCHS.join(', ')})`);
  if (!Number.isInteger(opts.imageSize) || opts.imageSize < 16)
    throw new UserError(`image size ${opts.imageSize} is too small for a network (at least 16)`);
  return build(opts);
}
