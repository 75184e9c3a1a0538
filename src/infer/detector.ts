import { createRequire } from 'node:module';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import type { RgbImage } from '../data/image.js';
import { UserError } from '../util/errors.js';
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
 * Detectors whose weights ship inside @vladmandic/face-api (node_modules/@vladmandic/face-api/model):
 * no download at run time. Both run on our own '@tensorflow/tfjs' instance and backend, because the
 * package's node-wasm build `require`s '@tensorflow/tfjs' and resolves to the same module we import.
 * - ssd-mobilenetv1 (default): 5.6 MB, ~0.2 s per photo on one core; its boxes frame faces most like
 *   the training crops (mean IoU 0.82 after the crop rule) and it finds exactly one face in 94% of 500
 *   UTKFace calibration crops.
 * - tiny-face-detector: 0.2 MB; at input 608 it finds as many faces at similar speed, but with looser,
 *   less consistent boxes (IoU 0.78; exactly one face in only 69% of the calibration crops).
 * Figures: bench/predict-detectors.ts.
 */
export const DETECTORS = ['ssd-mobilenetv1', 'tiny-face-detector'] as const;
export type DetectorName = (typeof DETECTORS)[number];
export const DEFAULT_DETECTOR: DetectorName = 'ssd-mobilenetv1';

/**
 * Default confidence thresholds, chosen on the composite photos of bench/predict-detectors.ts: SSD at 0.5
 * found 83% of the faces, at 0.4 90%, at 0.3 93%, with the same single false detection in all three.
 */
export const DEFAULT_MIN_SCORE: Record<DetectorName, number> = {
  'ssd-mobilenetv1': 0.4,
  'tiny-face-detector': 0.4,
};

/** tiny-face-detector input side: 416 missed most faces under 90 px; 608 found 98% of them. */
const TINY_INPUT_SIZE = 608;

type FaceApi = typeof import('@vladmandic/face-api');

export function isDetectorName(name: string): name is DetectorName {
  return (DETECTORS as readonly string[]).includes(name);
}

export function parseDetectorName(name: string): DetectorName {
  // Short aliases for the command line.
  const alias: Record<string, DetectorName> = { ssd: 'ssd-mobilenetv1', tiny: 'tiny-face-detector' };
  const full = alias[name] ?? name;
  if (!isDetectorName(full)) {
    throw new UserError(`unknown detector "${name}" (expected ${[...DETECTORS, 'ssd', 'tiny'].join(', ')})`);
  }
  return full;
}

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
  return path.dirname(
    require.resolve('@vladmandic/face-api/model/ssd_mobilenetv1_model-weights_manifest.json'),
  );
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
          .sort((a, b) => a.box.x - b.box.x || a.box.y - b.box.y);
      } finally {
        input.dispose();
      }
    },
  };
}
