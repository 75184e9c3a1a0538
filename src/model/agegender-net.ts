import * as tf from '@tensorflow/tfjs';
import type { Backbone } from './backbones/index.js';
import { headEnsemble } from './heads.js';
import type { FeatureKind, HeadsRecipe } from './heads-recipe.js';

/**
 * The shipped image -> age/gender network (models/default): a pretrained backbone (model/backbones/; the
 * default model's is the dlib face-recognition ResNet), feature taps on it, and an ensemble of age/gender heads. It is assembled here once, as layer
 * objects shared by four models, so the heads trained on cached features are the very layers the exported
 * image model ends in:
 *
 *   image ─trunk─> 8x8x128 map ─features─> pooled 256 (+ the map pooled to 4x4 or 2x2) ─heads─> age, gender
 *
 * The backbone is frozen while the heads train, so the features run once per image and view and are
 * cached (src/train/finetune/feature-cache.ts); only the heads train on them, seconds per epoch.
 */

export interface AgeGenderNet {
  /** image -> the heads' input features: what is run once per image and view, and cached. */
  features: tf.LayersModel;
  /** features -> [age, gender], the members' logits averaged: what is scored and served. */
  heads: tf.LayersModel;
  /** features -> every member's [age, gender]: what is trained, each member on its own loss. */
  headsTrain: tf.LayersModel;
  /** image -> [age, gender]: the served model, the same layers end to end. */
  image: tf.LayersModel;
}

/** Builds the network with the backbone's pretrained weights and freshly initialised heads. */
export async function buildAgeGenderNet(backbone: Backbone, recipe: HeadsRecipe): Promise<AgeGenderNet> {
  const layers = await backbone.build();
  const side = backbone.inputSize;
  const image = tf.input({ shape: [side, side, 3], name: 'image' });
  const describe = featureTaps(layers.tail, recipe.features);
  const featuresOut = describe(layers.trunk(image));
  const features = tf.model({ inputs: image, outputs: featuresOut, name: `${backbone.layerPrefix}features` });
  const ensemble = headEnsemble(
    { hidden: recipe.hidden, dropout: recipe.dropout, seed: recipe.seed, normalizeInput: true },
    recipe.ensemble,
  );
  const featIn = tf.input({ shape: [featuresOut.shape[1]!], name: 'features' });
  return {
    features,
    heads: tf.model({ inputs: featIn, outputs: ensemble.averaged(featIn), name: 'heads' }),
    headsTrain: tf.model({ inputs: featIn, outputs: ensemble.each(featIn).flat(), name: 'heads_train' }),
    image: tf.model({
      inputs: image,
      outputs: ensemble.averaged(featuresOut),
      name: 'agegender',
    }),
  };
}

/** The layers from the trunk's map to the heads' input (see FEATURE_KINDS). */
function featureTaps(
  tail: (map: tf.SymbolicTensor) => tf.SymbolicTensor,
  kind: FeatureKind,
): (map: tf.SymbolicTensor) => tf.SymbolicTensor {
  if (kind === 'pooled') return tail;
  const side = kind === 'fine' ? 2 : 4;
  const pool = tf.layers.averagePooling2d({ poolSize: side, strides: side, name: 'mid_pool' });
  const flat = tf.layers.flatten({ name: 'mid_flat' });
  const join = tf.layers.concatenate({ name: 'features' });
  return (map) =>
    join.apply([tail(map), flat.apply(pool.apply(map)) as tf.SymbolicTensor]) as tf.SymbolicTensor;
}
