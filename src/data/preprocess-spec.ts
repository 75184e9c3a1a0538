/**
 * Age classes of every model: class i is age i, 0..100 years. Datasets keep ages in this range, the age
 * head has this many outputs, and preprocess.json records it.
 */
export const AGE_MIN = 0;
export const AGE_MAX = 100;
export const AGE_CLASSES = AGE_MAX - AGE_MIN + 1;

/**
 * The preprocessing contract between training and serving. It is written as `preprocess.json` into every
 * serving bundle and checkpoint, and read back by predict / evaluate / serve / the browser page, so that
 * an image is turned into a tensor exactly the way it was during training.
 */
export interface PreprocessSpec {
  format: 'agegender-preprocess';
  version: 1;
  /** Square input side in pixels (the network's H = W). */
  imageSize: number;
  channels: 3;
  colorOrder: 'rgb';
  /** How a (face) image is brought to imageSize x imageSize: 'cover' = scale the short side, centre-crop. */
  resize: { fit: 'cover'; kernel: 'lanczos3' | 'cubic' | 'linear' };
  /** How pixels (x in [0, 255]) become the network's input; see Normalization. */
  normalization: Normalization;
  /** Age head: class i means age (ageMin + i). Age is read as the expectation over the classes (DEX). */
  age: { min: number; max: number; classes: number };
  /** Gender head: output index -> label. Index 1 is male, like the seed's CSV (1 = male, 0 = female). */
  genderLabels: ['female', 'male'];
  /** The model outputs logits; softmax is applied by the predictor. Output order of the model. */
  outputs: ['age', 'gender'];
  /**
   * How to turn a face detector's box into the crop the model was trained on. Filled by calibration
   * (see src/infer/calibrate.ts); null for bundles trained on crops that have not been calibrated.
   * The crop is a square of side `scale * max(w, h)` centred at the box centre shifted by
   * (`dx * w`, `dy * h`).
   */
  faceCrop: null | FaceCropRule;
  /**
   * Test-time flip: score each face as is and mirrored left-right and average the two softmax outputs
   * (absent = false). Set by training when it measured a gain on validation.
   */
  flipAverage?: boolean;
}

/**
 * - 'per-image-standardization': (x - mean) / max(std, 1/sqrt(N)) over all pixels and channels of the image
 *   (TensorFlow's tf.image.per_image_standardization, as the seed used).
 * - 'mean-scale': (x - mean[c]) * scale per channel c, with fixed constants: what a pretrained backbone was
 *   trained with (the dlib face-recognition ResNet: mean RGB 122.782/117.001/104.298, scale 1/256).
 */
export type Normalization =
  | { kind: 'per-image-standardization' }
  | { kind: 'mean-scale'; mean: [number, number, number]; scale: number };

/**
 * The measured relation between a detector's face box and the training crop around it (medians over
 * `samples` training crops in which the detector found exactly one face).
 */
export interface FaceCropRule {
  /** Detector id (src/infer/detector.ts DETECTORS), e.g. 'ssd-mobilenetv1'. */
  detector: string;
  /** Crop side / max(box w, box h). */
  scale: number;
  /** (crop centre x - box centre x) / box w. */
  dx: number;
  /** (crop centre y - box centre y) / box h. */
  dy: number;
  /** Crops measured (the detector found exactly one face in each). */
  samples: number;
  /** Optional detail: crops tried, spread of the measurements (median absolute deviation), date. */
  tried?: number;
  mad?: { scale: number; dx: number; dy: number };
  calibratedAt?: string;
}

export function defaultPreprocessSpec(imageSize: number): PreprocessSpec {
  return {
    format: 'agegender-preprocess',
    version: 1,
    imageSize,
    channels: 3,
    colorOrder: 'rgb',
    resize: { fit: 'cover', kernel: 'lanczos3' },
    normalization: { kind: 'per-image-standardization' },
    age: { min: AGE_MIN, max: AGE_MAX, classes: AGE_CLASSES },
    genderLabels: ['female', 'male'],
    outputs: ['age', 'gender'],
    faceCrop: null,
  };
}
