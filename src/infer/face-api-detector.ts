import type * as tfTypes from '@tensorflow/tfjs';
import type { Rgb } from '../data/square.js';
import { byPosition, DEFAULT_MIN_SCORE, TINY_INPUT_SIZE, type DetectorName } from './detector-options.js';
import { fusedSsd, type FusedSsd, type SsdParams } from './ssd-fused.js';
import type { Detection } from './types.js';

// The face detector over a face-api module, pure (no Node API): the Node detector (detector.ts, face-api's
// node-wasm build) and the browser entry (src/web/, its ESM build) wrap the same code, so they detect alike.

export interface DetectOptions {
  /** Minimum detector confidence in [0, 1]; the detector's own default when absent. */
  minScore?: number;
  /** tiny-face-detector only: the square side the image is resized to (multiple of 32); 608 by default. */
  inputSize?: number;
}

export interface FaceDetector {
  /** Stable id, stored in preprocess.json's faceCrop.detector by calibration. */
  readonly name: DetectorName;
  detect(image: Rgb, opts?: DetectOptions): Promise<Detection[]>;
}

/** The parts of face-api (either build) the detector uses. */
export interface FaceApiModule {
  nets: {
    ssdMobilenetv1: { isLoaded: boolean; params: unknown };
    tinyFaceDetector: { isLoaded: boolean };
  };
  TinyFaceDetectorOptions: new (o: { inputSize: number; scoreThreshold: number }) => unknown;
  detectAllFaces(
    input: never,
    options: never,
  ): PromiseLike<{ score: number; box: { x: number; y: number; width: number; height: number } }[]>;
}

/**
 * face-api refuses a threshold of exactly 0 or 1 (it wants an open interval), while ours is the closed
 * [0, 1] that the CLI, the HTTP API and the library accept: the detector is asked with the threshold
 * nudged inside, and its answers are then held to the threshold as given (so 1 keeps no face).
 */
const NUDGE = 1e-6;

/** Most faces SSD reports in one photo. */
const MAX_RESULTS = 100;

/** A FaceDetector over face-api's loaded net `name`, computing on the tfjs instance `tf`. */
export function faceApiDetector(api: FaceApiModule, tf: typeof tfTypes, name: DetectorName): FaceDetector {
  if (name === 'ssd-mobilenetv1') return ssdDetector(tf, () => api.nets.ssdMobilenetv1.params as SsdParams);
  return {
    name,
    async detect(image: Rgb, opts: DetectOptions = {}): Promise<Detection[]> {
      const minScore = opts.minScore ?? DEFAULT_MIN_SCORE[name];
      const options = new api.TinyFaceDetectorOptions({
        inputSize: opts.inputSize ?? TINY_INPUT_SIZE,
        scoreThreshold: nudged(minScore),
      });
      // An int32 tensor: face-api takes it as is, without a canvas (none in Node; exact pixels in the page).
      const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
      try {
        const found = await api.detectAllFaces(input as never, options as never);
        return found
          .filter((d) => d.score >= minScore)
          .map((d) => ({ box: { x: d.box.x, y: d.box.y, w: d.box.width, h: d.box.height }, score: d.score }))
          .sort(byPosition);
      } finally {
        input.dispose();
      }
    },
  };
}

/**
 * SSD MobileNetV1 on its parameters (face-api's loaded net's, or read from its files: ssd-weights.ts),
 * run fused (ssd-fused.ts: same network and weights, fewer kernels), built on first use.
 */
export function ssdDetector(tf: typeof tfTypes, params: () => SsdParams): FaceDetector {
  let ssd: FusedSsd | null = null;
  return {
    name: 'ssd-mobilenetv1',
    async detect(image: Rgb, opts: DetectOptions = {}): Promise<Detection[]> {
      const minScore = opts.minScore ?? DEFAULT_MIN_SCORE['ssd-mobilenetv1'];
      ssd ??= fusedSsd(tf, params());
      return (await ssd.detect(image, nudged(minScore), MAX_RESULTS))
        .filter((d) => d.score >= minScore)
        .sort(byPosition);
    },
  };
}

const nudged = (minScore: number) => Math.min(1 - NUDGE, Math.max(NUDGE, minScore));
