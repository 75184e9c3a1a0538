/**
 * agegender in the browser: the same model, detector and preprocessing as the Node predictor, on
 * TensorFlow.js in the page (wasm, else webgl, else cpu). Nothing is uploaded anywhere.
 *
 * The preprocessing is the Node code itself (src/data/normalize.ts, src/infer/crop-rule.ts,
 * src/infer/readout.ts, src/infer/detector-options.ts, src/data/bundle-format.ts); only decoding (the
 * browser's) and resampling (a Lanczos-3 port of sharp's, lanczos.ts) differ.
 *
 * @example
 * <script type="module">
 *   import { loadPredictor } from './node_modules/agegender/dist/web/agegender.js';
 *   const predictor = await loadPredictor();          // default URLs: see WebLoadOptions
 *   const faces = await predictor.predict(document.querySelector('img'));
 *   console.log(faces.map((f) => f.label));           // [ 'M/46' ]
 * </script>
 *
 * @example
 * // As `agegender serve`'s page does: the bundle and the detector weights from that server
 * const p = await loadPredictor({ modelUrl: '/model/', detectorUrl: '/vendor/face-api-model/' });
 * const faces = await p.predict(fileInput.files[0]);  // a Blob / File
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as faceapi from '@vladmandic/face-api/dist/face-api.esm-nobundle.js';
import { BUNDLE_FILES, checkModelShape, parsePreprocessSpec } from '../data/bundle-format.js';
import type { FaceCropRule, PreprocessSpec } from '../data/preprocess-spec.js';
import { chooseFaceCrop, clipBox, cropRegion, cutSquare } from '../infer/crop-rule.js';
import {
  byPosition,
  DEFAULT_MIN_SCORE,
  DETECTORS,
  fromMarginCanvas,
  marginLayout,
  TINY_INPUT_SIZE,
  type DetectorName,
} from '../infer/detector-options.js';
import { classifyFaceCrops } from '../infer/readout.js';
import type { Box, FaceResult } from '../infer/types.js';
import {
  ImageTooLargeError,
  InvalidImageError,
  InvalidOptionError,
  UserError,
  reason,
} from '../util/errors.js';
import { round } from '../util/round.js';
import { lanczosResize } from './lanczos.js';

export { ImageTooLargeError, InvalidImageError, InvalidOptionError, UserError };
export type { Box, FaceCropRule, PreprocessSpec, DetectorName };

/** One face, with the fields of `agegender predict --json` (and of the Node API's Face). */
export type Face = FaceResult;

/** Raw pixels, RGB or RGBA (alpha dropped), e.g. an ImageData. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels?: 3 | 4;
}

/** What `predict` takes in the page. A Blob (a File) is decoded with its EXIF orientation applied. */
export type WebImageInput =
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | OffscreenCanvas
  | ImageBitmap
  | ImageData
  | Blob
  | RawImage;

export type WebBackend = 'wasm' | 'webgl' | 'cpu';

export interface WebLoadOptions {
  /**
   * URL of the serving bundle's directory (model.json, weights.bin, preprocess.json), ending in '/'.
   * Default: the package's models/default, found relative to this script (as when a static server
   * serves a project with agegender in node_modules).
   */
  modelUrl?: string;
  /**
   * URL of the face detector's weights: the model/ folder of @vladmandic/face-api. Default: that
   * package beside this one in node_modules, relative to this script.
   */
  detectorUrl?: string;
  /** URL of the folder with tfjs-backend-wasm*.wasm; default: beside this script (dist/web/). */
  wasmUrl?: string;
  /** tfjs backends to try, in order (default wasm, webgl, cpu: wasm computes like the Node server). */
  backend?: WebBackend | WebBackend[];
  /** Face detector; default: the one the bundle was calibrated with, else ssd-mobilenetv1. */
  detector?: DetectorName | 'ssd' | 'tiny';
  /** Detector confidence threshold in [0, 1] (default: the detector's, 0.4, as in Node). */
  minScore?: number;
  /** Largest image accepted, width * height (default 40,000,000, as in Node). */
  maxPixels?: number;
}

export interface WebPredictOptions {
  /** Find faces first (default true). false: the whole image is one already-cropped face. */
  detect?: boolean;
  minScore?: number;
}

export interface WebPredictor {
  /** The faces in one image, left to right; rejects with InvalidImageError / ImageTooLargeError. */
  predict(input: WebImageInput, opts?: WebPredictOptions): Promise<Face[]>;
  /** The tfjs backend in use. */
  readonly backend: string;
  readonly spec: PreprocessSpec;
  readonly detector: DetectorName;
  readonly faceCrop: FaceCropRule;
  /** Frees the model's memory (the detector stays loaded for other predictors). */
  dispose(): void;
}

const DEFAULT_MAX_PIXELS = 40_000_000;
const LOAD_OPTIONS = ['modelUrl', 'detectorUrl', 'wasmUrl', 'backend', 'detector', 'minScore', 'maxPixels'];
const BACKEND_ORDER: WebBackend[] = ['wasm', 'webgl', 'cpu'];

interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}

type FaceApiInput = Parameters<typeof faceapi.detectAllFaces>[0];

let backendReady: Promise<string> | null = null;

/** Loads the model and its face detector in this page. */
export async function loadPredictor(opts: WebLoadOptions = {}): Promise<WebPredictor> {
  checkOptions(opts);
  const modelUrl = dirUrl(opts.modelUrl ?? new URL('../../models/default/', import.meta.url).href);
  const detectorUrl = dirUrl(
    opts.detectorUrl ?? new URL('../../../@vladmandic/face-api/model/', import.meta.url).href,
  );
  const backend = await startBackend(opts);
  const specUrl = modelUrl + BUNDLE_FILES.preprocess;
  const spec = parsePreprocessSpec(await fetchJson(specUrl), specUrl);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(modelUrl + BUNDLE_FILES.model);
  } catch (err) {
    throw new UserError(`${modelUrl + BUNDLE_FILES.model}: cannot load model: ${reason(err)}`);
  }
  checkModelShape(model.inputs[0]?.shape ?? [], model.outputs.length, spec, modelUrl);
  const { detector, faceCrop } = chooseFaceCrop(spec, opts.detector);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  let detectorLoaded: Promise<void> | null = null;
  const ensureDetector = () => (detectorLoaded ??= loadDetector(detector, detectorUrl));
  let disposed = false;

  const classify = (crops: Uint8Array[]) => classifyFaceCrops(tf, model, crops, spec);

  return {
    backend,
    spec,
    detector,
    faceCrop,
    async predict(input, popts = {}) {
      if (disposed) throw new UserError('predict: this predictor was disposed');
      checkKnown('predict', popts, ['detect', 'minScore']);
      checkScore('predict', popts.minScore);
      const minScore = popts.minScore ?? opts.minScore ?? DEFAULT_MIN_SCORE[detector];
      const img = await toRgb(input, maxPixels);
      const size = spec.imageSize;
      if (popts.detect === false) {
        // The whole image is the face crop: 'cover' = the centred square of the short side.
        const side = Math.min(img.width, img.height);
        const region = { x: (img.width - side) / 2, y: (img.height - side) / 2, w: side, h: side };
        const [r] = await classify([resizeSquare(img, region, size)]);
        return [{ box: { x: 0, y: 0, w: img.width, h: img.height }, score: 1, ...r! }];
      }
      await ensureDetector();
      const found = await detectWithMargin(img, detector, minScore);
      if (found.length === 0) return [];
      const results = await classify(found.map((d) => resizeSquare(img, cropRegion(d.box, faceCrop), size)));
      return found.map((d, i) => ({ box: clipBox(d.box, img), score: round(d.score, 4), ...results[i]! }));
    },
    dispose() {
      if (!disposed) model.dispose();
      disposed = true;
    },
  };
}

function checkOptions(opts: WebLoadOptions): void {
  checkKnown('loadPredictor', opts, LOAD_OPTIONS);
  for (const k of ['modelUrl', 'detectorUrl', 'wasmUrl'] as const) {
    if (opts[k] !== undefined && (typeof opts[k] !== 'string' || opts[k] === ''))
      throw new InvalidOptionError(`loadPredictor: option ${k} must be a non-empty URL string`);
  }
  const backends = opts.backend === undefined ? [] : [opts.backend].flat();
  for (const b of backends) {
    if (!BACKEND_ORDER.includes(b))
      throw new InvalidOptionError(
        `loadPredictor: option backend must be one of ${BACKEND_ORDER.join(', ')}, not ${JSON.stringify(b)}`,
      );
  }
  if (opts.detector !== undefined && ![...DETECTORS, 'ssd', 'tiny'].includes(opts.detector))
    throw new InvalidOptionError(
      `loadPredictor: option detector must be one of ${[...DETECTORS, 'ssd', 'tiny'].join(', ')}, not ${JSON.stringify(opts.detector)}`,
    );
  checkScore('loadPredictor', opts.minScore);
  if (opts.maxPixels !== undefined && !(Number.isInteger(opts.maxPixels) && opts.maxPixels > 0))
    throw new InvalidOptionError('loadPredictor: option maxPixels must be a positive integer');
}

function checkKnown(fn: string, opts: object, allowed: string[]): void {
  if (opts === null || typeof opts !== 'object')
    throw new InvalidOptionError(`${fn}: options must be an object`);
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key))
      throw new InvalidOptionError(
        `${fn}: unknown option "${key}" (expected one of ${[...allowed].sort().join(', ')})`,
      );
  }
}

function checkScore(fn: string, v: unknown): void {
  if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1))
    throw new InvalidOptionError(`${fn}: option minScore must be a number in 0..1, not ${String(v)}`);
}

function dirUrl(url: string): string {
  return url.endsWith('/') ? url : url + '/';
}

async function fetchJson(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new UserError(`${url}: cannot fetch: ${reason(err)}`);
  }
  if (!res.ok) throw new UserError(`${url}: HTTP ${res.status}`);
  try {
    return await res.json();
  } catch (err) {
    throw new UserError(`${url}: not JSON: ${reason(err)}`);
  }
}

/** One tfjs backend per page (tfjs is a singleton): the first that starts, in the order asked for. */
function startBackend(opts: WebLoadOptions): Promise<string> {
  backendReady ??= (async () => {
    setWasmPaths(dirUrl(opts.wasmUrl ?? new URL('./', import.meta.url).href));
    const wanted = opts.backend === undefined ? BACKEND_ORDER : [opts.backend].flat();
    for (const name of wanted) {
      try {
        if (await tf.setBackend(name)) {
          await tf.ready();
          return name;
        }
      } catch {
        // Not available in this browser: try the next one.
      }
    }
    throw new UserError(`no TensorFlow.js backend of ${wanted.join(', ')} works in this browser`);
  })();
  backendReady.catch(() => (backendReady = null));
  return backendReady;
}

async function loadDetector(name: DetectorName, url: string): Promise<void> {
  const net = name === 'ssd-mobilenetv1' ? faceapi.nets.ssdMobilenetv1 : faceapi.nets.tinyFaceDetector;
  if (net.isLoaded) return;
  try {
    await net.loadFromUri(url);
  } catch (err) {
    throw new UserError(`${url}: cannot load the ${name} detector: ${reason(err)}`);
  }
}

interface Found {
  box: Box;
  score: number;
}

/** As the Node predictor: the same detector options, input as an int32 tensor, and the margin pass. */
async function detect(img: Rgb, name: DetectorName, minScore: number): Promise<Found[]> {
  const options =
    name === 'ssd-mobilenetv1'
      ? new faceapi.SsdMobilenetv1Options({ minConfidence: minScore, maxResults: 100 })
      : new faceapi.TinyFaceDetectorOptions({ inputSize: TINY_INPUT_SIZE, scoreThreshold: minScore });
  const input = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
  try {
    const found = await faceapi.detectAllFaces(input as unknown as FaceApiInput, options);
    return found
      .map((d) => ({ box: { x: d.box.x, y: d.box.y, w: d.box.width, h: d.box.height }, score: d.score }))
      .sort(byPosition);
  } finally {
    input.dispose();
  }
}

async function detectWithMargin(img: Rgb, name: DetectorName, minScore: number): Promise<Found[]> {
  const found = await detect(img, name, minScore);
  if (found.length > 0) return found;
  const m = marginLayout(img.width, img.height);
  const small = lanczosResize(img.data, img.width, img.height, m.w, m.h);
  const canvas = new Uint8Array(m.canvas * m.canvas * 3);
  for (let y = 0; y < m.h; y++) {
    canvas.set(small.subarray(y * m.w * 3, (y + 1) * m.w * 3), ((y + m.top) * m.canvas + m.left) * 3);
  }
  const padded = { data: canvas, width: m.canvas, height: m.canvas };
  return (await detect(padded, name, minScore)).map((d) => ({
    score: d.score,
    box: fromMarginCanvas(d.box, m),
  }));
}

/** The model's input for one region: cut square (black outside the image), Lanczos-3 to size x size. */
function resizeSquare(img: Rgb, region: Box, size: number): Uint8Array {
  const sq = cutSquare(img, region);
  return lanczosResize(sq.data, sq.width, sq.height, size, size);
}

/** Any WebImageInput as RGB pixels, or an InvalidImageError / ImageTooLargeError. */
async function toRgb(input: WebImageInput, maxPixels: number): Promise<Rgb> {
  const name = 'input';
  const check = (w: number, h: number) => {
    if (!(w > 0 && h > 0))
      throw new InvalidImageError(`${name}: not a readable image: it has no pixels (not loaded yet?)`);
    if (w * h > maxPixels)
      throw new ImageTooLargeError(
        `${name}: image is ${w}x${h} = ${w * h} pixels, over the limit of ${maxPixels}`,
      );
  };
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(input, { imageOrientation: 'from-image' });
    } catch (err) {
      throw new InvalidImageError(`${name}: not a readable image: ${reason(err)}`);
    }
    try {
      check(bitmap.width, bitmap.height);
      return drawn(bitmap, bitmap.width, bitmap.height);
    } finally {
      bitmap.close();
    }
  }
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) {
    check(input.width, input.height);
    return dropAlpha(input.data, input.width, input.height);
  }
  if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement) {
    if (!input.complete) await input.decode().catch(() => undefined);
    check(input.naturalWidth, input.naturalHeight);
    return drawn(input, input.naturalWidth, input.naturalHeight);
  }
  if (typeof HTMLVideoElement !== 'undefined' && input instanceof HTMLVideoElement) {
    check(input.videoWidth, input.videoHeight);
    return drawn(input, input.videoWidth, input.videoHeight);
  }
  if (
    (typeof HTMLCanvasElement !== 'undefined' && input instanceof HTMLCanvasElement) ||
    (typeof OffscreenCanvas !== 'undefined' && input instanceof OffscreenCanvas) ||
    (typeof ImageBitmap !== 'undefined' && input instanceof ImageBitmap)
  ) {
    check(input.width, input.height);
    return drawn(input, input.width, input.height);
  }
  const raw = input as RawImage;
  if (raw && (raw.data instanceof Uint8Array || raw.data instanceof Uint8ClampedArray)) {
    check(raw.width, raw.height);
    const px = raw.width * raw.height;
    const channels = raw.channels ?? (raw.data.length === px * 4 ? 4 : 3);
    if (raw.data.length !== px * channels)
      throw new InvalidImageError(
        `${name}: not a readable image: ${raw.data.length} bytes of pixels, expected ${raw.width}x${raw.height}x${channels}`,
      );
    if (channels === 4) return dropAlpha(raw.data, raw.width, raw.height);
    return {
      data: new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.length),
      width: raw.width,
      height: raw.height,
    };
  }
  throw new InvalidImageError(
    `${name}: not a readable image: expected an <img>, <canvas>, <video>, ImageBitmap, ImageData, Blob or { data, width, height }`,
  );
}

function drawn(source: CanvasImageSource, width: number, height: number): Rgb {
  const canvas =
    typeof OffscreenCanvas !== 'undefined'
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as
    CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new UserError('this browser gives no 2d canvas to read image pixels with');
  ctx.drawImage(source, 0, 0);
  return dropAlpha(ctx.getImageData(0, 0, width, height).data, width, height);
}

function dropAlpha(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number): Rgb {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    rgb[j] = rgba[i]!;
    rgb[j + 1] = rgba[i + 1]!;
    rgb[j + 2] = rgba[i + 2]!;
  }
  return { data: rgb, width, height };
}
