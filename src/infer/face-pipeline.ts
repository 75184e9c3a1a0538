import type * as tfTypes from '@tensorflow/tfjs';
import type { FaceCropRule, PreprocessSpec } from '../data/preprocess-spec.js';
import { cutSquare, type Rgb } from '../data/square.js';
import {
  ImageTooLargeError,
  InvalidImageError,
  ModelError,
  PredictorDisposedError,
  reason,
} from '../util/errors.js';
import { round } from '../util/round.js';
import { clipBox, cropRegion } from './crop-rule.js';
import { fromMarginCanvas, marginLayout } from './detector-options.js';
import type { FaceDetector } from './face-api-detector.js';
import { classifyFaceCrops, type FaceAnswer } from './readout.js';
import type { Box, Detection, Face, PredictProgress, Settled } from './types.js';

/**
 * The one face pipeline of Node and the browser: decode (injected) -> shrink -> detect -> margin pass ->
 * crop by the calibrated rule -> resize by the bundle's kernel (injected) -> the network -> NaN guard.
 * Node injects sharp, and libturbojpeg and our port of sharp's shrink where they give its pixels
 * (node-decode.ts); the browser its own decoders and that port (src/web/decode.ts, src/data/resample.ts).
 * Nothing here touches Node or the DOM.
 */

/**
 * Default pixel limit, width x height read before decoding: 16383 x 16383 = 268,402,689, libvips's own
 * limit and about the largest canvas a browser draws (Chrome: 16384^2). It bounds what is decoded, not
 * memory: Node shrinks on decode, yet `agegender predict` peaked at 970 MB RSS on a 15000 x 15000 JPEG
 * (3 faces) and 849 MB on a flat 15000 x 15000 PNG, against 450 MB for a 200 x 200 photo (/usr/bin/time
 * -v, Node 22, the default engine). Lower maxPixels to bound memory further; `agegender serve` uses 40,000,000.
 */
export const DEFAULT_MAX_PIXELS = 0x3fff * 0x3fff;

/**
 * Photos are shrunk to at most this side before detection (boxes are mapped back to the original pixels):
 * the detector works at 512 px anyway, and a 15000 x 15000 photo decoded whole (675 MB of RGB, 2.7 GB as
 * the detector's int32 tensor) aborts the wasm module. Node shrinks while decoding; the browser after.
 */
export const MAX_DECODE_SIDE = 4096;

/** Faces sent through the age/gender network at once; bounds memory on huge batches. */
const MODEL_BATCH = 64;

export type ResizeKernel = PreprocessSpec['resize']['kernel'];

/** Resamples RGB pixels to width x height (no aspect kept), as sharp's `fit: 'fill'` with `kernel`. */
export type Resize = (
  img: Rgb,
  width: number,
  height: number,
  kernel: ResizeKernel,
) => Uint8Array | Promise<Uint8Array>;

/** A decoded image, maybe shrunk, with the size of the original (boxes are reported in its pixels). */
export interface DecodedImage extends Rgb {
  originalWidth: number;
  originalHeight: number;
}

export interface RunOptions {
  /** false: each image is one already-cropped face (the centred square, as the bundle's `cover` fit). */
  detect: boolean;
  /** Detector confidence threshold in [0, 1]; the detector's default when absent. */
  minScore?: number;
  /** Add each face's crop (the network's input) as `crop`. */
  crop?: boolean;
  /** Add each face's age distribution as `ageDistribution` (for fitting and checking calibrations). */
  ageDistribution?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: PredictProgress) => void;
}

export interface PipelineParts {
  tf: typeof tfTypes;
  model: tfTypes.LayersModel;
  spec: PreprocessSpec;
  faceCrop: FaceCropRule;
  /** The detector, loaded on first use (not needed without detection). */
  detector: () => Promise<FaceDetector>;
  resize: Resize;
  /** The bundle's directory or URL, named in the NaN error. */
  source: string;
}

/** Decodes input `i`, or throws InvalidImageError / ImageTooLargeError naming it. */
export type Decode = (i: number) => Promise<DecodedImage>;

export class FacePipeline {
  private inFlight = 0;
  private closed = false;
  private drained: (() => void) | null = null;
  private freed: Promise<void> | null = null;

  constructor(
    readonly parts: PipelineParts,
    /** Decodes started ahead of detection (Node decodes on sharp's thread pool meanwhile). */
    private readonly decodeAhead = 1,
  ) {}

  /**
   * Faces of `count` inputs, in input order; an input that cannot be read gets its error and does not sink
   * the others. Rejects only when aborted (the signal's reason) or when the model answers NaN (ModelError).
   */
  async run(
    count: number,
    decode: Decode,
    nameOf: (i: number) => string,
    opts: RunOptions,
  ): Promise<Settled[]> {
    if (this.closed) throw new PredictorDisposedError('this predictor was disposed');
    opts.signal?.throwIfAborted();
    this.inFlight++;
    try {
      return await this.runAll(count, decode, nameOf, opts);
    } finally {
      if (--this.inFlight === 0) this.drained?.();
    }
  }

  /**
   * Refuses new work, waits for the predictions in flight, then frees the model. Resolves once freed;
   * calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.closed = true;
    this.freed ??= (async () => {
      if (this.inFlight > 0) await new Promise<void>((r) => (this.drained = r));
      this.parts.model.dispose();
    })();
    return this.freed;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private async runAll(
    count: number,
    decode: Decode,
    nameOf: (i: number) => string,
    opts: RunOptions,
  ): Promise<Settled[]> {
    const { spec, faceCrop, resize } = this.parts;
    const detector = opts.detect ? await this.parts.detector() : null;
    const out: Settled[] = [];
    const faces: { input: number; box: Box; score: number; pixels: Uint8Array }[] = [];
    const decodeSettled = (i: number) =>
      decode(i).then(
        (img) => ({ img }),
        (err: unknown) => ({ err }),
      );
    const pending: ReturnType<typeof decodeSettled>[] = [];
    for (let i = 0; i < count; i++) {
      opts.signal?.throwIfAborted();
      for (let k = pending.length; k < Math.min(i + this.decodeAhead, count); k++)
        pending.push(decodeSettled(k));
      const d = await pending[i]!;
      pending[i] = Promise.resolve({ err: null }); // let the pixels go
      if ('err' in d) {
        const cause = asImageError(d.err, nameOf(i));
        out.push({ ok: false, error: cause.message, cause });
        continue;
      }
      const img = await shrink(d.img, resize);
      const sx = img.originalWidth / img.width;
      const sy = img.originalHeight / img.height;
      const original = { width: img.originalWidth, height: img.originalHeight };
      try {
        if (!detector) {
          const side = Math.min(img.width, img.height);
          const centre = { x: (img.width - side) / 2, y: (img.height - side) / 2, w: side, h: side };
          const box = { x: 0, y: 0, w: img.originalWidth, h: img.originalHeight };
          faces.push({ input: i, box, score: 1, pixels: await cropFace(img, centre, spec, resize) });
        } else {
          const found = await detectWithMargin(detector, img, opts.minScore, resize);
          // The crops of one photo resampled together (Node's sharp runs them on its thread pool at once).
          const pixels = await Promise.all(
            found.map((det) => cropFace(img, cropRegion(det.box, faceCrop), spec, resize)),
          );
          found.forEach((det, k) => {
            const b = det.box;
            faces.push({
              input: i,
              box: clipBox({ x: b.x * sx, y: b.y * sy, w: b.w * sx, h: b.h * sy }, original),
              score: det.score,
              pixels: pixels[k]!,
            });
          });
        }
        out.push({ ok: true, faces: [] });
      } catch (err) {
        // One photo the detector cannot take must not sink the answers for the others.
        while (faces.length > 0 && faces.at(-1)!.input === i) faces.pop();
        const e = new InvalidImageError(`${nameOf(i)}: face detection failed: ${reason(err)}`);
        out.push({ ok: false, error: e.message, cause: e });
      }
      opts.onProgress?.({ done: i + 1, total: count });
    }
    for (let start = 0; start < faces.length; start += MODEL_BATCH) {
      opts.signal?.throwIfAborted();
      const chunk = faces.slice(start, start + MODEL_BATCH);
      const results = await this.classify(
        chunk.map((f) => f.pixels),
        opts.ageDistribution,
      );
      chunk.forEach((f, k) => {
        const slot = out[f.input]!;
        if (!slot.ok) return;
        const face: Face = { box: f.box, score: round(f.score, 4), ...results[k]! };
        if (opts.crop) face.crop = { data: f.pixels, width: spec.imageSize, height: spec.imageSize };
        slot.faces.push(face);
      });
    }
    return out;
  }

  /** The network on preprocessed face crops (HWC uint8, imageSize square): age and gender per face. */
  async classify(crops: Uint8Array[], withDistribution = false): Promise<FaceAnswer[]> {
    const { tf, model, spec, source } = this.parts;
    const answers = await classifyFaceCrops(tf, model, crops, spec, withDistribution);
    // Untrained or damaged weights give NaN; an answer like "F/NaN" must not pass for a prediction.
    if (answers.some((a) => !Number.isFinite(a.age) || !Number.isFinite(a.pMale)))
      throw new ModelError(
        `${source}: the model's outputs are not numbers (NaN); its weights are broken ` +
          '(a diverged or damaged training run?): use another model',
      );
    return answers;
  }
}

function asImageError(err: unknown, name: string): InvalidImageError | ImageTooLargeError {
  if (err instanceof InvalidImageError || err instanceof ImageTooLargeError) return err;
  return new InvalidImageError(`${name}: not a readable image: ${reason(err)}`);
}

/** A decoded image larger than MAX_DECODE_SIDE, shrunk to it (Node's decoder already did). */
async function shrink(img: DecodedImage, resize: Resize): Promise<DecodedImage> {
  const f = MAX_DECODE_SIDE / Math.max(img.width, img.height);
  if (f >= 1) return img;
  const width = Math.max(1, Math.round(img.width * f));
  const height = Math.max(1, Math.round(img.height * f));
  const data = await resize(img, width, height, 'lanczos3');
  return { data, width, height, originalWidth: img.originalWidth, originalHeight: img.originalHeight };
}

/**
 * The model's input for one region: the square cut out (black outside the image, as the training crops),
 * resized to imageSize with the bundle's kernel.
 */
export function cropFace(
  img: Rgb,
  region: Box,
  spec: Pick<PreprocessSpec, 'imageSize' | 'resize'>,
  resize: Resize,
): Uint8Array | Promise<Uint8Array> {
  const square = cutSquare(img, region);
  return resize(square, spec.imageSize, spec.imageSize, spec.resize.kernel);
}

/**
 * Detection, and when it finds nothing a second pass on the image shrunk into the middle of a black
 * canvas three times its size (see marginLayout in detector-options.ts for why). Boxes come back in the
 * image's own pixels.
 */
export async function detectWithMargin(
  detector: FaceDetector,
  img: Rgb,
  minScore: number | undefined,
  resize: Resize,
): Promise<Detection[]> {
  const found = await detector.detect(img, { minScore });
  if (found.length > 0) return found;
  const m = marginLayout(img.width, img.height);
  const small = await resize(img, m.w, m.h, 'lanczos3');
  const canvas = new Uint8Array(m.canvas * m.canvas * 3);
  for (let y = 0; y < m.h; y++)
    canvas.set(small.subarray(y * m.w * 3, (y + 1) * m.w * 3), ((y + m.top) * m.canvas + m.left) * 3);
  const padded = { data: canvas, width: m.canvas, height: m.canvas };
  return (await detector.detect(padded, { minScore })).map((d) => ({
    score: d.score,
    box: fromMarginCanvas(d.box, m),
  }));
}
