import * as tf from '@tensorflow/tfjs';
import { DLIB_INPUT_SIZE, DLIB_TRUNK_END, buildDlibResNet } from './dlib-resnet.js';
import { headEnsemble } from './heads.js';

/**
 * The shipped image -> age/gender network (models/default): the dlib face-recognition ResNet as the
 * backbone, feature taps on it, and an ensemble of age/gender heads. It is assembled here once, as layer
 * objects shared by four models, so the heads trained on cached features are the very layers the exported
 * image model ends in:
 *
 *   image ─trunk─> 8x8x128 map ─features─> pooled 256 (+ the map pooled to 4x4 or 2x2) ─heads─> age, gender
 *
 * The backbone is frozen while the heads train, so the features run once per image and view and are
 * cached (src/train/finetune/feature-cache.ts); only the heads train on them, seconds per epoch.
 */

/**
 * What the heads see: 'fine' = the backbone's 256 pooled features (identity-trained, the descriptor's
 * input) plus the trunk's 8x8x128 map average-pooled to 4x4 (2,048 values: where on the face, not only
 * what); 'multi' = the same map at 2x2 (512 values of mid-level texture and shape, which age needs and
 * identity training learns to ignore); 'pooled' = the 256 alone. The first is the default model's: it beat
 * 'multi' on validation age (UTKFace MAE 4.23 vs 4.32, AAF 5.03 vs 5.28).
 */
export const FEATURE_KINDS = ['fine', 'multi', 'pooled'] as const;
export type FeatureKind = (typeof FEATURE_KINDS)[number];

/** Names the backbone and its cut point: part of the feature cache's key (with the feature kind). */
export const DLIB_BACKBONE_ID = `dlib-resnet/face-api-1.7/${DLIB_TRUNK_END}`;

export interface HeadsRecipe {
  features: FeatureKind;
  /** Units of the heads' hidden layer (0 = linear heads). */
  hidden: number;
  dropout: number;
  /** Seeds the heads' initial weights (member i: seed + 1000 i). */
  seed: number;
  /** Sets of heads trained side by side, their logits averaged. */
  ensemble: number;
}

export interface DlibAgeGenderNet {
  /** image [150,150,3] -> the heads' input features: what is run once per image and view, and cached. */
  features: tf.LayersModel;
  /** features -> [age, gender], the members' logits averaged: what is scored and served. */
  heads: tf.LayersModel;
  /** features -> every member's [age, gender]: what is trained, each member on its own loss. */
  headsTrain: tf.LayersModel;
  /** image -> [age, gender]: the served model, the same layers end to end. */
  image: tf.LayersModel;
}

/** Builds the network with the backbone's pretrained weights and freshly initialised heads. */
export async function buildDlibAgeGenderNet(recipe: HeadsRecipe): Promise<DlibAgeGenderNet> {
  const dlib = await buildDlibResNet();
  const image = tf.input({ shape: [DLIB_INPUT_SIZE, DLIB_INPUT_SIZE, 3], name: 'image' });
  const describe = featureTaps(dlib.tail, recipe.features);
  const featuresOut = describe(dlib.trunk(image));
  const features = tf.model({ inputs: image, outputs: featuresOut, name: 'dlib_features' });
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
      name: 'agegender_dlib',
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
