import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type * as tfTypes from '@tensorflow/tfjs';
import { decodeRgb, loadResized, normalizeInto, type RgbImage } from '../data/image.js';
import { UserError, reason } from '../util/errors.js';
import { readPreprocessSpec } from './calibrate.js';
import {
  DEFAULT_DETECTOR,
  loadDetector,
  parseDetectorName,
  type Detection,
  type DetectorName,
  type FaceDetector,
} from './detector.js';
import { cropRegion, extractFace } from './face-crop.js';
import type { FaceCropRule, PreprocessSpec } from '../data/preprocess-spec.js';
import { ensureBackend } from './tf-backend.js';
import { formatLabel, type Box, type FaceResult } from './types.js';

/**
 * The bundle shipped in the package: <package root>/models/default. This file is src/infer/predictor.ts
 * or dist/infer/predictor.js, two levels below the root either way (also under npx / node_modules).
 */
export function defaultModelDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'default');
}

/**
 * Crop rules measured with `agegender calibrate` on 500 UTKFace crops (the default model's training
 * data). Used only when a bundle carries no faceCrop of its own, or one for another detector, which is
 * right for any model trained on UTKFace-style aligned crops; other crops need `agegender calibrate`.
 */
export const UTKFACE_FACE_CROP: Record<DetectorName, FaceCropRule> = {
  'ssd-mobilenetv1': {
    detector: 'ssd-mobilenetv1',
    scale: 1.0385,
    dx: 0.0291,
    dy: 0.0554,
    samples: 469,
    tried: 500,
    mad: { scale: 0.028, dx: 0.0409, dy: 0.014 },
  },
  'tiny-face-detector': {
    detector: 'tiny-face-detector',
    scale: 0.9612,
    dx: 0.0088,
    dy: -0.0266,
    samples: 347,
    tried: 500,
    mad: { scale: 0.0368, dx: 0.0221, dy: 0.013 },
  },
};

export interface PredictorLoadOptions {
  /** Serving bundle: model.json + weights.bin + preprocess.json (+ metrics.json). */
  modelDir?: string;
  /** Engine: one of BACKEND_CHOICES (src/engine/backend-choices.ts); default 'auto'. */
  backend?: string;
  /**
   * wasm threads (default: the engine's, all cores). One thread starts ~0.4 s faster, which is what a
   * single photo needs; several pay off on many photos.
   */
  threads?: number;
  /** Face detector: 'ssd-mobilenetv1' (alias 'ssd') or 'tiny-face-detector' ('tiny'); default: the one the
   * bundle was calibrated with, else ssd-mobilenetv1. */
  detector?: string;
}

export interface PredictOptions {
  /** Find faces first (default). false: the whole image is one already-cropped face, as the seed's predict.py. */
  detect?: boolean;
  /** Detector confidence threshold (default: the detector's own, see detector.ts). */
  minScore?: number;
}

/** One input's outcome in `predictSettled`: its faces, or why it could not be read. */
export type SettledPrediction = { ok: true; faces: FaceResult[] } | { ok: false; error: string };

/** Faces sent through the age/gender network at once; bounds memory on huge batches. */
const MODEL_BATCH = 64;

/**
 * Age and gender for every face in a photo: detector -> calibrated square crop -> the bundle's
 * preprocessing -> the multi-task network -> DEX age (expectation over the 101 classes) and P(male).
 */
export class Predictor {
  /**
   * Notes for the user, e.g. that the bundle has no calibrated face crop (added when detection is first
   * used, since --no-detect does not need one); the CLI prints them on stderr.
   */
  readonly warnings: string[] = [];
  private detectorPromise: Promise<FaceDetector> | null = null;

  private constructor(
    private readonly tf: typeof tfTypes,
    private readonly model: tfTypes.LayersModel,
    readonly modelDir: string,
    readonly spec: PreprocessSpec,
    readonly metrics: unknown,
    readonly detectorName: DetectorName,
    readonly faceCrop: FaceCropRule,
    private readonly cropNote: string | null,
  ) {}

  /** The engine this predictor runs on, for log lines (e.g. `wasm+dnnl (oneDNN 2.6.3, 2 threads, simd), tfjs 4.22.0`). */
  get engine(): string {
    return this.engineLine;
  }
  private engineLine = '';

  static async load(opts: PredictorLoadOptions = {}): Promise<Predictor> {
    const modelDir = path.resolve(opts.modelDir ?? defaultModelDir());
    if (!opts.modelDir && !(await exists(path.join(modelDir, 'model.json')))) {
      throw new UserError(
        `no default model in ${modelDir} (this install lacks models/default); pass --model-dir <serving bundle>`,
      );
    }
    const tf = await ensureBackend(opts.backend ?? 'auto', opts.threads);
    const { loadLayersModelFromDir } = await import('../engine/model-io.js');
    const [spec, metrics, model] = await Promise.all([
      readPreprocessSpec(modelDir),
      readMetrics(modelDir),
      loadLayersModelFromDir(modelDir),
    ]);
    const shape = model.inputs[0]?.shape ?? [];
    if (shape[1] !== spec.imageSize || shape[2] !== spec.imageSize || shape[3] !== 3) {
      throw new UserError(
        `${modelDir}: model input [${shape.join(', ')}] does not match preprocess.json imageSize ${spec.imageSize}`,
      );
    }
    if (model.outputs.length !== 2) {
      throw new UserError(
        `${modelDir}: expected 2 model outputs (age, gender), found ${model.outputs.length}`,
      );
    }
    const detectorName = opts.detector
      ? parseDetectorName(opts.detector)
      : spec.faceCrop && parseDetectorSafe(spec.faceCrop.detector)
        ? (spec.faceCrop.detector as DetectorName)
        : DEFAULT_DETECTOR;
    let faceCrop = spec.faceCrop;
    let cropNote: string | null = null;
    if (!faceCrop || faceCrop.detector !== detectorName) {
      faceCrop = UTKFACE_FACE_CROP[detectorName];
      cropNote =
        `${path.join(modelDir, 'preprocess.json')}: no face crop calibrated for ${detectorName}; using the ` +
        `UTKFace rule (scale ${faceCrop.scale}, dx ${faceCrop.dx}, dy ${faceCrop.dy}). ` +
        `Run \`agegender calibrate --model-dir ${modelDir} --img-dir <training crops>\` to measure it.`;
    }
    const predictor = new Predictor(tf, model, modelDir, spec, metrics, detectorName, faceCrop, cropNote);
    predictor.engineLine = (await import('../engine/backend.js')).describeBackend();
    return predictor;
  }

  /** The face detector, loaded on first use (not needed with detect: false). */
  detector(): Promise<FaceDetector> {
    if (!this.detectorPromise && this.cropNote) this.warnings.push(this.cropNote);
    this.detectorPromise ??= loadDetector(this.detectorName);
    return this.detectorPromise;
  }

  async predict(input: string | Buffer, opts: PredictOptions = {}): Promise<FaceResult[]> {
    return (await this.predictBatch([input], opts))[0]!;
  }

  /** Faces of every input, in input order; rejects (naming the input) if any input is not a readable image. */
  async predictBatch(inputs: (string | Buffer)[], opts: PredictOptions = {}): Promise<FaceResult[][]> {
    const settled = await this.predictSettled(inputs, opts);
    return settled.map((s) => {
      if (!s.ok) throw new UserError(s.error);
      return s.faces;
    });
  }

  /**
   * Like predictBatch, but an unreadable input does not sink the others: each input gets its faces or a
   * one-line error naming it. All faces of all inputs go through the network in batches.
   */
  async predictSettled(inputs: (string | Buffer)[], opts: PredictOptions = {}): Promise<SettledPrediction[]> {
    const detect = opts.detect ?? true;
    const detector = detect ? await this.detector() : null;
    const out: SettledPrediction[] = [];
    const faces: { input: number; box: Box; score: number; pixels: Uint8Array }[] = [];
    // Decoding runs on sharp's thread pool, so start all decodes at once; detection runs one image at a time.
    const decoded = inputs.map((input) =>
      decodeRgb(input).then(
        (img) => ({ img }),
        (err) => ({ err }),
      ),
    );
    for (const [i, pending] of decoded.entries()) {
      const d = await pending;
      const name = typeof inputs[i] === 'string' ? (inputs[i] as string) : `input ${i + 1}`;
      if ('err' in d) {
        out.push({ ok: false, error: `${name}: not a readable image: ${reason(d.err)}` });
        continue;
      }
      out.push({ ok: true, faces: [] });
      const img: RgbImage = d.img;
      if (!detector) {
        const box = { x: 0, y: 0, w: img.width, h: img.height };
        faces.push({ input: i, box, score: 1, pixels: await loadResized(img, this.spec) });
        continue;
      }
      for (const det of await detectWithMargin(detector, img, opts.minScore)) {
        const region = cropRegion(det.box, this.faceCrop);
        faces.push({
          input: i,
          box: clipBox(det.box, img),
          score: det.score,
          pixels: await extractFace(img, region, this.spec),
        });
      }
    }
    for (let start = 0; start < faces.length; start += MODEL_BATCH) {
      const chunk = faces.slice(start, start + MODEL_BATCH);
      const results = await this.run(chunk.map((f) => f.pixels));
      chunk.forEach((f, k) => {
        const slot = out[f.input]!;
        if (slot.ok) slot.faces.push({ box: f.box, score: round(f.score, 4), ...results[k]! });
      });
    }
    return out;
  }

  /** The network on preprocessed face crops (HWC uint8, imageSize square): age and gender per face. */
  async run(crops: Uint8Array[]): Promise<Omit<FaceResult, 'box' | 'score'>[]> {
    if (crops.length === 0) return [];
    const { tf, spec } = this;
    const size = spec.imageSize;
    const per = size * size * 3;
    const batch = new Float32Array(crops.length * per);
    crops.forEach((c, i) => normalizeInto(c, spec.normalization, size, batch, i * per));
    const named = this.model.outputNames;
    // Output order is fixed by the bundle contract (age, gender); names are honoured when present.
    const ageIdx = named.includes('age') ? named.indexOf('age') : 0;
    const genderIdx = named.includes('gender') ? named.indexOf('gender') : 1;
    const probs = tf.tidy(() => {
      const outputs = this.model.predict(
        tf.tensor4d(batch, [crops.length, size, size, 3]),
      ) as tfTypes.Tensor[];
      return [tf.softmax(outputs[ageIdx]!), tf.softmax(outputs[genderIdx]!)];
    });
    let ageP: Float32Array, genderP: Float32Array;
    try {
      [ageP, genderP] = (await Promise.all(probs.map((t) => t.data()))) as Float32Array[] as [
        Float32Array,
        Float32Array,
      ];
    } finally {
      tf.dispose(probs);
    }
    const classes = spec.age.classes;
    return crops.map((_, i) => {
      let mean = 0;
      for (let k = 0; k < classes; k++) mean += ageP[i * classes + k]! * (spec.age.min + k);
      let variance = 0;
      for (let k = 0; k < classes; k++) variance += ageP[i * classes + k]! * (spec.age.min + k - mean) ** 2;
      const pMale = genderP[i * 2 + 1]!;
      const gender = pMale >= 0.5 ? 'M' : 'F';
      return {
        age: round(mean, 2),
        ageSpread: round(Math.sqrt(variance), 2),
        gender,
        pMale: round(pMale, 4),
        pFemale: round(1 - pMale, 4),
        label: formatLabel(gender, mean),
      };
    });
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Largest side of the black-bordered canvas of the second detection pass (the detector works at 512). */
const MARGIN_CANVAS = 1024;

/**
 * Detection, and when it finds nothing a second pass on the image shrunk into the middle of a black
 * canvas three times its size: a face that fills the image and touches its borders (a portrait, an
 * already-cropped face) is missed by the detector until it has room around it, as calibration found
 * on UTKFace crops: a face in 38 of 40 crops with the second pass, in 10 of 40 without it.
 * Boxes come back in the image's own pixels.
 */
async function detectWithMargin(
  detector: FaceDetector,
  img: RgbImage,
  minScore: number | undefined,
): Promise<Detection[]> {
  const found = await detector.detect(img, { minScore });
  if (found.length > 0) return found;
  const side = Math.max(img.width, img.height);
  const f = Math.min(1, MARGIN_CANVAS / (3 * side));
  const w = Math.max(1, Math.round(img.width * f));
  const h = Math.max(1, Math.round(img.height * f));
  const canvas = Math.round(3 * side * f);
  const left = Math.floor((canvas - w) / 2);
  const top = Math.floor((canvas - h) / 2);
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(w, h, { fit: 'fill' })
    .extend({ left, top, right: canvas - w - left, bottom: canvas - h - top, background: '#000000' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const padded = {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
  };
  return (await detector.detect(padded, { minScore })).map((d) => ({
    score: d.score,
    box: { x: (d.box.x - left) / f, y: (d.box.y - top) / f, w: d.box.w / f, h: d.box.h / f },
  }));
}

function parseDetectorSafe(name: string): boolean {
  try {
    parseDetectorName(name);
    return true;
  } catch {
    return false;
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

async function readMetrics(dir: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, 'metrics.json'), 'utf8'));
  } catch {
    return null;
  }
}

function clipBox(b: Box, img: { width: number; height: number }): Box {
  const x0 = Math.max(0, Math.round(b.x));
  const y0 = Math.max(0, Math.round(b.y));
  const x1 = Math.min(img.width, Math.round(b.x + b.w));
  const y1 = Math.min(img.height, Math.round(b.y + b.h));
  return { x: x0, y: y0, w: Math.max(0, x1 - x0), h: Math.max(0, y1 - y0) };
}

function round(v: number, digits: number): number {
  return Number(v.toFixed(digits));
}
