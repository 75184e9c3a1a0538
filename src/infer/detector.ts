import { createRequire } from 'node:module';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import type { RgbImage } from '../data/image.js';
import {
  byPosition,
  DEFAULT_DETECTOR,
  DEFAULT_MIN_SCORE,
  DETECTOR_MANIFEST,
  TINY_INPUT_SIZE,
  type DetectorName,
} from './detector-options.js';
import type { Box } from './types.js';

/** One face found by a detector, in pixels of the image it was given. */
export interface Detection {
  box: Box;
  score: number;
}

export interface DetectOptions {
  /** Minimum detector confidence; the detector's own default when absent. */
  minScore?: number;
  /** tiny-face-detector only: the square side the image is resized to (multiple of 32); 608 by default. */
  inputSize?: number;
}

export interface FaceDetector {
  /** Stable id, stored in preprocess.json's faceCrop.detector by calibration. */
  readonly name: DetectorName;
  detect(image: RgbImage, opts?: DetectOptions): Promise<Detection[]>;
}

/**
 * The detectors run on our own '@tensorflow/tfjs' instance and backend, because face-api's node-wasm build
 * `require`s '@tensorflow/tfjs' and resolves to the same module we import. Names, thresholds and the
 * margin pass are in detector-options.ts (shared with the browser entry).
 */
export {
  DEFAULT_DETECTOR,
  DEFAULT_MIN_SCORE,
  DETECTORS,
  isDetectorName,
  parseDetectorName,
  type DetectorName,
} from './detector-options.js';

type FaceApi = typeof import('@vladmandic/face-api');

let faceApi: FaceApi | null = null;
const loaded = new Map<DetectorName, Promise<FaceDetector>>();

/**
 * Loads a detector (once per process). The tfjs backend must already be set (ensureBackend), since the
 * detector's weights are uploaded to whatever backend is current.
 */
export function loadDetector(name: DetectorName = DEFAULT_DETECTOR): Promise<FaceDetector> {
  let p = loaded.get(name);
  if (!p) {
    p = create(name);
    loaded.set(name, p);
    p.catch(() => loaded.delete(name));
  }
  return p;
}

function modelDir(require: NodeJS.Require): string {
  return path.dirname(require.resolve(`@vladmandic/face-api/model/${DETECTOR_MANIFEST['ssd-mobilenetv1']}`));
}

async function create(name: DetectorName): Promise<FaceDetector> {
  const require = createRequire(import.meta.url);
  // The node-wasm build requires only '@tensorflow/tfjs' + the wasm backend (not tfjs-node).
  faceApi ??= require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
  const api = faceApi;
  const tf = api.tf as unknown as typeof tfTypes;
  const dir = modelDir(require);
  const net = name === 'ssd-mobilenetv1' ? api.nets.ssdMobilenetv1 : api.nets.tinyFaceDetector;
  if (!net.isLoaded) await net.loadFromDisk(dir);
  return {
    name,
    async detect(image: RgbImage, opts: DetectOptions = {}): Promise<Detection[]> {
      const minScore = opts.minScore ?? DEFAULT_MIN_SCORE[name];
      const options =
        name === 'ssd-mobilenetv1'
          ? new api.SsdMobilenetv1Options({ minConfidence: minScore, maxResults: 100 })
          : new api.TinyFaceDetectorOptions({
              inputSize: opts.inputSize ?? TINY_INPUT_SIZE,
              scoreThreshold: minScore,
            });
      const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
      try {
        const found = await api.detectAllFaces(input as never, options);
        return found
          .map((d) => ({
            box: { x: d.box.x, y: d.box.y, w: d.box.width, h: d.box.height },
            score: d.score,
          }))
          .sort(byPosition);
      } finally {
        input.dispose();
      }
    },
  };
}
