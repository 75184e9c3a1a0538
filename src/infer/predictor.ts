import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tfTypes from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import type { RgbImage } from '../data/image.js';
import type { FaceCropRule, PreprocessSpec } from '../data/preprocess-spec.js';
import { UserError } from '../util/errors.js';
import { isBundle, loadBundle } from './bundle.js';
import { chooseFaceCrop } from './crop-rule.js';
import type { DetectorName } from './detector-options.js';
import { loadDetector, type FaceDetector } from './detector.js';
import {
  DEFAULT_MAX_PIXELS,
  FacePipeline,
  detectWithMargin as detectWithMarginOf,
  type RunOptions,
} from './face-pipeline.js';
import { decodeInNode, nodeResize, type PredictorInput } from './node-decode.js';
import type { Face, FaceResult, Settled } from './types.js';

/**
 * The Node side of the face pipeline (face-pipeline.ts): decoding and resampling by node-decode.ts, the
 * engine held for the predictor's life (engine/backend.ts leaseEngine). The library API (src/api/predict.ts)
 * and the server (src/serve/) use it.
 */

/**
 * The bundle shipped in the package: <package root>/models/default. This file is src/infer/predictor.ts
 * or dist/infer/predictor.js, two levels below the root either way (also under npx / node_modules).
 */
export function defaultModelDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'default');
}

export { UTKFACE_FACE_CROP } from './crop-rule.js';
export type { PredictorInput };
export { DEFAULT_MAX_PIXELS };

/** Stages of loading, in order, for `onProgress`. */
export type LoadStage = 'engine' | 'model';

export interface PredictorLoadOptions {
  /** Serving bundle: model.json + weights.bin + preprocess.json (+ metrics.json); default the bundled one. */
  modelDir?: string;
  /** Engine: one of BACKEND_CHOICES (src/engine/engine-options.ts); default 'auto'. */
  backend?: string;
  /** wasm threads (default: the engine's, all cores). */
  threads?: number;
  /** Face detector name or alias; default: the one the bundle was calibrated with, else ssd-mobilenetv1. */
  detector?: string;
  /** Largest image accepted, width * height read from its header before decoding. */
  maxPixels?: number;
  signal?: AbortSignal;
  /** Called as each stage of loading is done. */
  onProgress?: (p: { stage: LoadStage; done: number; total: number }) => void;
}

export type PredictOptions = Partial<RunOptions>;
export type SettledPrediction = Settled;

/** Detection with the margin pass, resampling as the pipeline does (for callers outside it). */
export function detectWithMargin(detector: FaceDetector, img: RgbImage, minScore: number | undefined) {
  return detectWithMarginOf(detector, img, minScore, nodeResize);
}

export class Predictor {
  /**
   * Notes for the user, e.g. that the bundle has no calibrated face crop (added when detection is first
   * used, since --no-detect does not need one); the CLI prints them on stderr.
   */
  readonly warnings: string[] = [];
  private detectorPromise: Promise<FaceDetector> | null = null;
  private readonly pipeline: FacePipeline;

  private constructor(
    tf: typeof tfTypes,
    model: tfTypes.LayersModel,
    readonly modelDir: string,
    readonly spec: PreprocessSpec,
    readonly metrics: unknown,
    readonly detectorName: DetectorName,
    readonly faceCrop: FaceCropRule,
    private readonly cropNote: string | null,
    readonly maxPixels: number,
    readonly engine: string,
    private readonly releaseEngine: () => void,
  ) {
    const detector = () => this.detector();
    this.pipeline = new FacePipeline(
      { tf, model, spec, faceCrop, detector, resize: nodeResize, source: modelDir },
      3,
    );
  }

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
    const total = 2;
    opts.signal?.throwIfAborted();
    const [{ leaseEngine, describeBackend }, { tf }] = await Promise.all([
      import('../engine/backend.js'),
      import('../engine/tfjs.js'),
    ]);
    const { BACKEND_CHOICES } = await import('../engine/engine-options.js');
    const backend = BACKEND_CHOICES.find((c) => c === (opts.backend ?? 'auto'));
    if (!backend)
      throw new UserError(`unknown backend "${opts.backend}" (expected ${BACKEND_CHOICES.join(', ')})`);
    const lease = await leaseEngine({ backend, threads: opts.threads });
    try {
      opts.onProgress?.({ stage: 'engine', done: 1, total });
      opts.signal?.throwIfAborted();
      const { model, spec, metrics } = await loadBundle(modelDir, { inference: true });
      const choice = chooseFaceCrop(spec, opts.detector);
      const { faceCrop } = choice;
      const cropNote = choice.fallback
        ? `${modelDir}: preprocess.json has no face crop calibrated for ${choice.detector}; using the ` +
          `UTKFace rule (scale ${faceCrop.scale}, dx ${faceCrop.dx}, dy ${faceCrop.dy}). ` +
          `Run \`agegender calibrate --model-dir ${modelDir} --img-dir <training crops>\` to measure it.`
        : null;
      const predictor = new Predictor(
        tf,
        model,
        modelDir,
        spec,
        metrics,
        choice.detector,
        faceCrop,
        cropNote,
        opts.maxPixels ?? DEFAULT_MAX_PIXELS,
        describeBackend(),
        lease.release,
      );
      if (opts.signal?.aborted) {
        await predictor.dispose();
        opts.signal.throwIfAborted();
      }
      opts.onProgress?.({ stage: 'model', done: 2, total });
      return predictor;
    } catch (err) {
      lease.release();
      throw err;
    }
  }

  /** The face detector, loaded on first use (not needed with detect: false). */
  detector(): Promise<FaceDetector> {
    if (!this.detectorPromise && this.cropNote) this.warnings.push(this.cropNote);
    this.detectorPromise ??= loadDetector(this.detectorName);
    return this.detectorPromise;
  }

  async predict(input: PredictorInput, opts: PredictOptions = {}): Promise<Face[]> {
    return (await this.predictBatch([input], opts))[0]!;
  }

  /** Faces of every input, in input order; rejects (naming the input) if any input is not a readable image. */
  async predictBatch(inputs: PredictorInput[], opts: PredictOptions = {}): Promise<Face[][]> {
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
  predictSettled(inputs: PredictorInput[], opts: PredictOptions = {}): Promise<SettledPrediction[]> {
    const nameOf = (i: number) => {
      const input = inputs[i];
      if (input instanceof URL) return input.href;
      return typeof input === 'string' ? input : `input ${i + 1}`;
    };
    return this.pipeline.run(
      inputs.length,
      (i) => decodeInNode(inputs[i]!, nameOf(i), this.maxPixels),
      nameOf,
      {
        ...opts,
        detect: opts.detect ?? true,
      },
    );
  }

  /** The network on preprocessed face crops (HWC uint8, imageSize square), with the NaN guard. */
  classifyCrops(crops: Uint8Array[]): Promise<Omit<FaceResult, 'box' | 'score'>[]> {
    return this.pipeline.classify(crops);
  }

  /**
   * Refuses new predictions (PredictorDisposedError), lets the ones in flight finish, then frees the
   * model and lets go of the engine. Resolves once done.
   */
  async dispose(): Promise<void> {
    await this.pipeline.close();
    this.releaseEngine();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
