/**
 * agegender in the browser: the same face pipeline as the Node predictor (src/infer/face-pipeline.ts:
 * detection, margin pass, crop rule, the network, NaN guard, limits), on TensorFlow.js in the page (wasm,
 * else webgl, else cpu). Only the browser's parts live here: decoding (decode.ts), fetching and caching the
 * bundle (model-cache.ts), the tfjs backend, and resampling with a port of sharp's kernels (../data/resample.ts).
 * Nothing is uploaded anywhere.
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
import { SIGNAL } from '../util/run-options.js';
import { DETECTOR, LOAD_PROGRESS, MAX_PIXELS, MIN_SCORE, PREDICT_OPTIONS } from '../api/predict-options.js';
import { defineOptions, resolveOptions, type CustomSpec, type OptionsOf } from '../util/option-schema.js';
import { BUNDLE_FILES, checkModelShape, parsePreprocessSpec } from '../data/bundle-format.js';
import type { FaceCropRule, PreprocessSpec } from '../data/preprocess-spec.js';
import { chooseFaceCrop } from '../infer/crop-rule.js';
import type { DetectorName } from '../infer/detector-options.js';
import { faceApiDetector, type FaceApiModule, type FaceDetector } from '../infer/face-api-detector.js';
import { FacePipeline } from '../infer/face-pipeline.js';
import type { Face, Settled } from '../infer/types.js';
import {
  EngineInUseError,
  ImageTooLargeError,
  InvalidImageError,
  InvalidOptionError,
  PredictorDisposedError,
  UserError,
  reason,
} from '../util/errors.js';
import { decodeInBrowser, type WebImageInput } from './decode.js';
import { lanczosResize } from '../data/resample.js';
import { cachedFetch } from './model-cache.js';

export {
  EngineInUseError,
  ImageTooLargeError,
  InvalidImageError,
  InvalidOptionError,
  PredictorDisposedError,
  UserError,
};
export type { Face, FaceCropRule, PreprocessSpec, DetectorName, WebImageInput };
export type { RawImage, ImageTensor } from '../infer/image-input.js';

export type WebBackend = 'wasm' | 'webgl' | 'cpu';
const BACKEND_ORDER: WebBackend[] = ['wasm', 'webgl', 'cpu'];

const URL_OPTION = { type: 'path', arg: 'url' } as const;
const WEB_BACKEND: CustomSpec<WebBackend | WebBackend[]> = {
  type: 'custom',
  help: 'tfjs backends to try, in order (wasm computes like the Node server)',
  expect: `one of ${BACKEND_ORDER.join(', ')}, or a list of them`,
  check: (v): v is WebBackend | WebBackend[] =>
    [v].flat().length > 0 && [v].flat().every((b) => BACKEND_ORDER.includes(b as WebBackend)),
  default: BACKEND_ORDER,
};

/** The browser build's load options; detector, minScore, maxPixels are the Node library's own specs. */
export const WEB_LOAD_OPTIONS = defineOptions({
  modelUrl: {
    ...URL_OPTION,
    help: "URL of the serving bundle's directory; default: the package's models/default beside this script",
  },
  detectorUrl: {
    ...URL_OPTION,
    help: "URL of @vladmandic/face-api's model/ folder; default: that package beside this one in node_modules",
  },
  wasmUrl: {
    ...URL_OPTION,
    help: 'URL of the folder with tfjs-backend-wasm*.wasm; default: beside this script',
  },
  backend: WEB_BACKEND,
  detector: DETECTOR,
  minScore: MIN_SCORE,
  maxPixels: MAX_PIXELS,
  cache: {
    type: 'boolean',
    default: true,
    help: 'keep the model in the Cache API between visits (revalidated on each load)',
  },
  signal: SIGNAL,
  onProgress: LOAD_PROGRESS,
});

export type WebLoadOptions = OptionsOf<typeof WEB_LOAD_OPTIONS>;
export type WebPredictOptions = OptionsOf<typeof PREDICT_OPTIONS>;

/** One input's outcome in `predictEach`: its faces, or the typed error saying why it could not be read. */
export type WebPredictOutcome =
  { ok: true; faces: Face[] } | { ok: false; error: InvalidImageError | ImageTooLargeError };

export interface WebPredictor extends AsyncDisposable {
  /** The faces in one image, left to right; rejects with InvalidImageError / ImageTooLargeError. */
  predict(input: WebImageInput, opts?: WebPredictOptions): Promise<Face[]>;
  /** The faces of several images; an unreadable one gets its error and does not stop the others. */
  predictEach(inputs: WebImageInput[], opts?: WebPredictOptions): Promise<WebPredictOutcome[]>;
  /** The tfjs backend in use. */
  readonly backend: string;
  readonly spec: PreprocessSpec;
  readonly detector: DetectorName;
  readonly faceCrop: FaceCropRule;
  /** Refuses new predictions, waits for those in flight, then frees the model (the detector stays loaded). */
  dispose(): Promise<void>;
}

let backendReady: Promise<string> | null = null;

/** Loads the model and its face detector in this page. */
export async function loadPredictor(options: WebLoadOptions = {}): Promise<WebPredictor> {
  const opts = resolveOptions('loadPredictor', WEB_LOAD_OPTIONS, options);
  const here = (rel: string) => new URL(rel, import.meta.url).href;
  const modelUrl = dirUrl(opts.modelUrl ?? here('../../models/default/'));
  const detectorUrl = dirUrl(opts.detectorUrl ?? here('../../../@vladmandic/face-api/model/'));
  const backend = await startBackend(
    [opts.backend ?? BACKEND_ORDER].flat(),
    dirUrl(opts.wasmUrl ?? here('./')),
  );
  opts.signal?.throwIfAborted();
  opts.onProgress?.({ stage: 'engine', done: 1, total: 2 });
  const fetchFunc = cachedFetch(opts.cache);
  const specUrl = modelUrl + BUNDLE_FILES.preprocess;
  const spec = parsePreprocessSpec(await fetchJson(specUrl, fetchFunc), specUrl);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(modelUrl + BUNDLE_FILES.model, { fetchFunc });
  } catch (err) {
    throw new UserError(`${modelUrl + BUNDLE_FILES.model}: cannot load model: ${reason(err)}`);
  }
  try {
    checkModelShape(model.inputs[0]?.shape ?? [], model.outputs.length, spec, modelUrl);
    opts.signal?.throwIfAborted();
  } catch (err) {
    model.dispose();
    throw err;
  }
  opts.onProgress?.({ stage: 'model', done: 2, total: 2 });
  const { detector, faceCrop } = chooseFaceCrop(spec, opts.detector);
  let detectorLoaded: Promise<FaceDetector> | null = null;
  const pipeline = new FacePipeline({
    tf,
    model,
    spec,
    faceCrop,
    detector: () => (detectorLoaded ??= loadDetector(detector, detectorUrl)),
    resize: (img, w, h, kernel) => lanczosResize(img.data, img.width, img.height, w, h, kernel),
    source: modelUrl,
  });

  const settle = (inputs: WebImageInput[], popts: WebPredictOptions | undefined, fn: string) => {
    if (pipeline.isClosed) throw new PredictorDisposedError(`${fn}: this predictor was disposed`);
    const o = resolveOptions(fn, PREDICT_OPTIONS, popts);
    const nameOf = (i: number) => (inputs.length === 1 ? 'input' : `input ${i + 1}`);
    return pipeline.run(
      inputs.length,
      (i) => decodeInBrowser(inputs[i]!, nameOf(i), opts.maxPixels),
      nameOf,
      {
        ...o,
        minScore: o.minScore ?? opts.minScore,
      },
    );
  };
  const dispose = () => pipeline.close();
  return {
    backend,
    spec,
    detector,
    faceCrop,
    async predict(input, popts) {
      const [s] = await settle([input], popts, 'predict');
      if (!s!.ok) throw s!.cause;
      return s!.faces;
    },
    async predictEach(inputs, popts) {
      if (!Array.isArray(inputs)) throw new InvalidOptionError('predictEach: inputs must be an array');
      const settled: Settled[] = await settle(inputs, popts, 'predictEach');
      return settled.map((s) => (s.ok ? { ok: true, faces: s.faces } : { ok: false, error: s.cause }));
    },
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}

function dirUrl(url: string): string {
  return url.endsWith('/') ? url : url + '/';
}

async function fetchJson(url: string, fetchFunc: ReturnType<typeof cachedFetch>): Promise<unknown> {
  let res: Response;
  try {
    res = await fetchFunc(url);
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

/**
 * One tfjs backend per page (tfjs is a singleton): the first that starts, in the order asked for. A later
 * predictor joins it when it is among the backends that predictor accepts, and is refused otherwise.
 */
async function startBackend(wanted: WebBackend[], wasmUrl: string): Promise<string> {
  if (backendReady) {
    const running = await backendReady.catch(() => null);
    if (running && !wanted.includes(running as WebBackend))
      throw new EngineInUseError(
        `loadPredictor: this page already runs the ${running} backend (tfjs has one per page); ` +
          `cannot start ${wanted.join(' or ')}`,
      );
    if (running) return running;
  }
  backendReady = (async () => {
    setWasmPaths(wasmUrl);
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

async function loadDetector(name: DetectorName, url: string): Promise<FaceDetector> {
  const net = name === 'ssd-mobilenetv1' ? faceapi.nets.ssdMobilenetv1 : faceapi.nets.tinyFaceDetector;
  if (!net.isLoaded) {
    try {
      await net.loadFromUri(url);
    } catch (err) {
      throw new UserError(`${url}: cannot load the ${name} detector: ${reason(err)}`);
    }
  }
  return faceApiDetector(faceapi as unknown as FaceApiModule, tf, name);
}
