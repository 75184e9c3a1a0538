import type * as tf from '@tensorflow/tfjs';
import type { Normalization } from '../../data/preprocess-spec.js';

/**
 * A pretrained face network that `finetune` builds an age/gender model on: one file per backbone in this
 * folder, listed in index.ts. Plain data but for `build`, which loads the layers (and tfjs) when called, so
 * the CLI can list the choices without loading either.
 */
export interface Backbone {
  /** The `backbone` option's value, recorded as the bundle's arch. */
  name: string;
  /** Names the weights and the split point: part of the feature cache's key. */
  id: string;
  /** Where the pretrained weights come from (recorded in metrics.json). */
  source: string;
  /** Side of the square input in pixels, and how pixels become the input: the bundle's preprocessing. */
  inputSize: number;
  normalization: Normalization;
  /** Every layer of the backbone is named with this prefix (how a bundle built on it is told apart). */
  layerPrefix: string;
  /** Builds the layers holding the pretrained weights. */
  build(): Promise<BackboneLayers>;
}

/** The backbone split at its mid-level map; each call applies the same layer objects (shared weights). */
export interface BackboneLayers {
  /** image -> the mid-level map the feature taps read (model/agegender-net.ts). */
  trunk: (image: tf.SymbolicTensor) => tf.SymbolicTensor;
  /** the map -> the remaining blocks and global pooling: the pooled features. */
  tail: (map: tf.SymbolicTensor) => tf.SymbolicTensor;
}
