import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { DEFAULT_DETECTOR, DETECTOR_MANIFEST, type DetectorName } from './detector-options.js';
import { faceApiDetector, ssdDetector, type FaceApiModule, type FaceDetector } from './face-api-detector.js';
import { ssdParamsFromWeights, type SsdManifest } from './ssd-weights.js';

/**
 * The detectors in Node run on our own '@tensorflow/tfjs' instance and backend: SSD's weights are read
 * from face-api's model files without the face-api module (ssd-weights.ts), and face-api's node-wasm
 * build, which the tiny detector runs on, `require`s '@tensorflow/tfjs' and resolves to the same module.
 * Names, thresholds and the margin pass are in detector-options.ts, the detection itself in
 * face-api-detector.ts (both shared with the browser entry).
 */
export { parseDetectorName, type DetectorName } from './detector-options.js';
export type { DetectOptions, FaceDetector } from './face-api-detector.js';

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

async function create(name: DetectorName): Promise<FaceDetector> {
  const require = createRequire(import.meta.url);
  if (name === 'ssd-mobilenetv1') {
    // Its weights read straight from face-api's files: the face-api module is not needed for SSD.
    const manifestPath = require.resolve(`@vladmandic/face-api/model/${DETECTOR_MANIFEST[name]}`);
    const dir = path.dirname(manifestPath);
    const manifest = JSON.parse(await fs.readFile(manifestPath, 'utf8')) as SsdManifest;
    const files = new Map<string, Uint8Array>();
    for (const p of manifest.flatMap((g) => g.paths)) files.set(p, await fs.readFile(path.join(dir, p)));
    const { tf } = await import('../engine/tfjs.js');
    const params = ssdParamsFromWeights(tf, manifest, (p) => files.get(p)!);
    return ssdDetector(tf, () => params);
  }
  // The node-wasm build requires only '@tensorflow/tfjs' + the wasm backend (not tfjs-node).
  faceApi ??= require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
  const api = faceApi;
  const dir = path.dirname(require.resolve(`@vladmandic/face-api/model/${DETECTOR_MANIFEST[name]}`));
  const net = api.nets.tinyFaceDetector;
  if (!net.isLoaded) await net.loadFromDisk(dir);
  return faceApiDetector(api as unknown as FaceApiModule, api.tf as unknown as typeof tfTypes, name);
}
