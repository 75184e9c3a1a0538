import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type * as tfTypes from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import {
  MAX_INPUT_PIXELS,
  decodeRgbWithin,
  loadResized,
  type RgbImage,
  type ScaledRgbImage,
} from '../data/image.js';
import type { FaceCropRule, PreprocessSpec } from '../data/preprocess-spec.js';
import { ImageTooLargeError, InvalidImageError, ModelError, UserError, reason } from '../util/errors.js';
import { round } from '../util/round.js';
import { isBundle, loadBundle } from './bundle.js';
import { chooseFaceCrop, clipBox, cropRegion } from './crop-rule.js';
import { fromMarginCanvas, marginLayout, type DetectorName } from './detector-options.js';
import { loadDetector, type Detection, type FaceDetector } from './detector.js';
import { extractFace } from './face-crop.js';
import { classifyFaceCrops } from './readout.js';
import { ensureBackend } from './tf-backend.js';
import type { Box, FaceResult } from './types.js';

/**
 * The bundle shipped in the package: <package root>/models/default. This file is src/infer/predictor.ts
 * or dist/infer/predictor.js, two levels below the root either way (also under npx / node_modules).
 */
export function defaultModelDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'default');
}

export { UTKFACE_FACE_CROP } from './crop-rule.js';

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
  /**
   * Largest image accepted, width * height read from its header before decoding (default 40 Mpx, as
   * `agegender serve`): a few kB of PNG can claim 50,000 x 50,000 pixels.
   */
  maxPixels?: number;
}

/** Default pixel limit: a 7,300 x 5,500 photo, about 120 MB of RGB once decoded. */
export const DEFAULT_MAX_PIXELS = MAX_INPUT_PIXELS;

/**
 * Photos are shrunk on decode to at most this side (boxes are mapped back to the original pixels): the
 * detector works at 512 px anyway, and a 15000 x 15000 photo decoded whole (675 MB of RGB, 2.7 GB as the
 * detector's int32 tensor) aborts the wasm module.
 */
const MAX_DECODE_SIDE = 4096;
/** Decodes started ahead of the detector: keeps sharp busy without holding many large photos at once. */
const DECODE_AHEAD = 3;

/** What a predictor reads: an image file, an encoded image in memory, or raw RGB pixels. */
export type PredictorInput = string | Buffer | RgbImage;

export interface PredictOptions {
  /** Find faces first (default). false: the whole image is one already-cropped face, as the seed's predict.py. */
  detect?: boolean;
  /** Detector confidence threshold (default: the detector's own, see detector.ts). */
  minScore?: number;
}

/** One input's outcome in `predictSettled`: its faces, or why it could not be read. */
export type SettledPrediction =
  | { ok: true; faces: FaceResult[] }
  | { ok: false; error: string; cause: InvalidImageError | ImageTooLargeError };

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
    readonly maxPixels: number,
  ) {}

  /** The engine this predictor runs on, for log lines (e.g. `wasm+dnnl (oneDNN 2.6.3, 2 threads, simd), tfjs 4.22.0`). */
  get engine(): string {
    return this.engineLine;
  }
  private engineLine = '';

  static async load(opts: PredictorLoadOptions = {}): Promise<Predictor> {
    const modelDir = path.resolve(opts.modelDir ?? defaultModelDir());
    if (opts.modelDir) {
      const st = await fs.stat(modelDir).catch(() => null);
      if (!st) throw new UserError(`${opts.modelDir}: no such model directory`);
      if (!st.isDirectory())
        throw new UserError(
          `${opts.modelDir}: is a file, not a serving bundle directory (model.json, weights.bin, preprocess.json)`,
        );
    }
    if (!opts.modelDir && !(await isBundle(modelDir))) {
      throw new UserError(
        `no default model in ${modelDir} (this install lacks models/default); give the directory of a serving bundle`,
      );
    }
    const tf = await ensureBackend(opts.backend ?? 'auto', opts.threads);
    const { model, spec, metrics } = await loadBundle(modelDir);
    const choice = chooseFaceCrop(spec, opts.detector);
    const { faceCrop } = choice;
    const cropNote = choice.fallback
      ? `${modelDir}: preprocess.json has no face crop calibrated for ${choice.detector}; using the ` +
        `UTKFace rule (scale ${faceCrop.scale}, dx ${faceCrop.dx}, dy ${faceCrop.dy}). ` +
        `Run \`agegender calibrate --model-dir ${modelDir} --img-dir <training crops>\` to measure it.`
      : null;
    const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
    const predictor = new Predictor(
      tf,
      model,
      modelDir,
      spec,
      metrics,
      choice.detector,
      faceCrop,
      cropNote,
      maxPixels,
    );
    predictor.engineLine = (await import('../engine/backend.js')).describeBackend();
    return predictor;
  }

  /** The face detector, loaded on first use (not needed with detect: false). */
  detector(): Promise<FaceDetector> {
    if (!this.detectorPromise && this.cropNote) this.warnings.push(this.cropNote);
    this.detectorPromise ??= loadDetector(this.detectorName);
    return this.detectorPromise;
  }

  async predict(input: PredictorInput, opts: PredictOptions = {}): Promise<FaceResult[]> {
    return (await this.predictBatch([input], opts))[0]!;
  }

  /** Faces of every input, in input order; rejects (naming the input) if any input is not a readable image. */
  async predictBatch(inputs: PredictorInput[], opts: PredictOptions = {}): Promise<FaceResult[][]> {
    const settled = await this.predictSettled(inputs, opts);
    return settled.map((s) => {
      if (!s.ok) throw s.cause;
      return s.faces;
    });
  }

  /**
   * Like predictBatch, but an unreadable input does not sink the others: each input gets its faces or a
   * one-line error naming it. All faces of all inputs go through the network in batches.
   */
  async predictSettled(inputs: PredictorInput[], opts: PredictOptions = {}): Promise<SettledPrediction[]> {
    const detect = opts.detect ?? true;
    const detector = detect ? await this.detector() : null;
    const out: SettledPrediction[] = [];
    const faces: { input: number; box: Box; score: number; pixels: Uint8Array }[] = [];
    // Decoding runs on sharp's thread pool, so a few decodes run ahead; detection runs one image at a time.
    const decode = (input: PredictorInput, i: number) =>
      this.decode(input, typeof input === 'string' ? input : `input ${i + 1}`).then(
        (img) => ({ img }),
        (err: InvalidImageError | ImageTooLargeError) => ({ err }),
      );
    const decoded: ReturnType<typeof decode>[] = [];
    for (let i = 0; i < inputs.length; i++) {
      for (let k = decoded.length; k < Math.min(i + DECODE_AHEAD, inputs.length); k++)
        decoded.push(decode(inputs[k]!, k));
      const d = await decoded[i]!;
      decoded[i] = Promise.resolve({ err: new InvalidImageError('released') }); // let the pixels go
      if ('err' in d) {
        out.push({ ok: false, error: d.err.message, cause: d.err });
        continue;
      }
      const img: ScaledRgbImage = d.img;
      const sx = img.originalWidth / img.width;
      const sy = img.originalHeight / img.height;
      const original = { width: img.originalWidth, height: img.originalHeight };
      if (!detector) {
        const box = { x: 0, y: 0, w: img.originalWidth, h: img.originalHeight };
        out.push({ ok: true, faces: [] });
        faces.push({ input: i, box, score: 1, pixels: await loadResized(img, this.spec) });
        continue;
      }
      try {
        const found: (typeof faces)[number][] = [];
        for (const det of await detectWithMargin(detector, img, opts.minScore)) {
          const region = cropRegion(det.box, this.faceCrop);
          const b = det.box;
          found.push({
            input: i,
            box: clipBox({ x: b.x * sx, y: b.y * sy, w: b.w * sx, h: b.h * sy }, original),
            score: det.score,
            pixels: await extractFace(img, region, this.spec),
          });
        }
        out.push({ ok: true, faces: [] });
        faces.push(...found);
      } catch (err) {
        // One photo the detector cannot take must not sink the answers for the others.
        const name = typeof inputs[i] === 'string' ? (inputs[i] as string) : `input ${i + 1}`;
        const e = new InvalidImageError(`${name}: face detection failed: ${reason(err)}`);
        out.push({ ok: false, error: e.message, cause: e });
      }
    }
    for (let start = 0; start < faces.length; start += MODEL_BATCH) {
      const chunk = faces.slice(start, start + MODEL_BATCH);
      const results = await this.classifyCrops(chunk.map((f) => f.pixels));
      chunk.forEach((f, k) => {
        const slot = out[f.input]!;
        if (slot.ok) slot.faces.push({ box: f.box, score: round(f.score, 4), ...results[k]! });
      });
    }
    return out;
  }

  /**
   * An input as RGB pixels, or the typed error naming it: too many pixels (read from the header, before
   * decoding), or not a readable image.
   */
  private async decode(input: PredictorInput, name: string): Promise<ScaledRgbImage> {
    if (typeof input !== 'string' && !Buffer.isBuffer(input)) {
      const { data, width, height } = input;
      if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
        throw new InvalidImageError(
          `${name}: not a readable image: width and height must be positive integers`,
        );
      if (width * height > this.maxPixels) throw tooLarge(name, width, height, this.maxPixels);
      if (data?.length !== width * height * 3)
        throw new InvalidImageError(
          `${name}: not a readable image: ${data?.length ?? 0} bytes of pixels, expected ${width}x${height}x3 = ${width * height * 3} (RGB)`,
        );
      return { ...input, originalWidth: width, originalHeight: height };
    }
    let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
    try {
      meta = await sharp(input, { limitInputPixels: false }).metadata();
    } catch (err) {
      throw new InvalidImageError(`${name}: not a readable image: ${reason(err)}`);
    }
    const [w, h] = [meta.autoOrient?.width ?? meta.width ?? 0, meta.autoOrient?.height ?? meta.height ?? 0];
    if (w * h > this.maxPixels) throw tooLarge(name, w, h, this.maxPixels);
    try {
      return await decodeRgbWithin(input, MAX_DECODE_SIDE);
    } catch (err) {
      throw new InvalidImageError(`${name}: not a readable image: ${reason(err)}`);
    }
  }

  /** The network on preprocessed face crops (HWC uint8, imageSize square): age and gender per face. */
  async classifyCrops(crops: Uint8Array[]): Promise<Omit<FaceResult, 'box' | 'score'>[]> {
    const answers = await classifyFaceCrops(this.tf, this.model, crops, this.spec);
    // Untrained or damaged weights give NaN; an answer like "F/NaN" must not pass for a prediction.
    if (answers.some((a) => !Number.isFinite(a.age) || !Number.isFinite(a.pMale)))
      throw new ModelError(
        `${this.modelDir}: the model's outputs are not numbers (NaN); its weights are broken ` +
          '(a diverged or damaged training run?): use another model',
      );
    return answers;
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * Detection, and when it finds nothing a second pass on the image shrunk into the middle of a black
 * canvas three times its size (see marginLayout in detector-options.ts for why). Boxes come back in the
 * image's own pixels.
 */
export async function detectWithMargin(
  detector: FaceDetector,
  img: RgbImage,
  minScore: number | undefined,
): Promise<Detection[]> {
  const found = await detector.detect(img, { minScore });
  if (found.length > 0) return found;
  const m = marginLayout(img.width, img.height);
  const { w, h, canvas, left, top } = m;
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
    box: fromMarginCanvas(d.box, m),
  }));
}

function tooLarge(name: string, width: number, height: number, maxPixels: number): ImageTooLargeError {
  return new ImageTooLargeError(
    `${name}: image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels}`,
  );
}
