/** How the heads of model/agegender-net.ts are made, as plain data (the CLI lists it without loading tfjs). */

/**
 * What the heads see: 'fine' = the backbone's 256 pooled features (identity-trained, the descriptor's
 * input) plus the trunk's 8x8x128 map average-pooled to 4x4 (2,048 values: where on the face, not only
 * what); 'multi' = the same map at 2x2 (512 values of mid-level texture and shape, which age needs and
 * identity training learns to ignore); 'pooled' = the 256 alone. The first is the default model's: it beat
 * 'multi' on validation age (UTKFace MAE 4.23 vs 4.32, AAF 5.03 vs 5.28).
 */
export const FEATURE_KINDS = ['fine', 'multi', 'pooled'] as const;
export type FeatureKind = (typeof FEATURE_KINDS)[number];

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
