import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { BUNDLE_FILES, checkModelShape, parsePreprocessSpec } from '../data/bundle-format.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import { UserError, reason } from '../util/errors.js';

/** Reading a serving bundle from disk (src/data/bundle-format.ts says what one is; src/web/ reads it by URL). */

/** Reads a bundle's preprocess.json (a one-line UserError naming the file when it is missing or bad). */
export async function readPreprocessSpec(bundleDir: string): Promise<PreprocessSpec> {
  const file = path.join(bundleDir, BUNDLE_FILES.preprocess);
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new UserError(`${file}: cannot read preprocessing spec: ${reason(err)}`);
  }
  return parsePreprocessSpec(json, file);
}

/** metrics.json, or null: it is informative only (shown by /v1/model), never required. */
export async function readMetrics(bundleDir: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(path.join(bundleDir, BUNDLE_FILES.metrics), 'utf8'));
  } catch {
    return null;
  }
}

export async function isBundle(dir: string): Promise<boolean> {
  return fs.access(path.join(dir, BUNDLE_FILES.model)).then(
    () => true,
    () => false,
  );
}

export interface LoadedBundle {
  model: tfTypes.LayersModel;
  spec: PreprocessSpec;
  metrics: unknown;
}

/** Network, spec and metrics of a bundle, checked against each other. The tfjs backend must be set. */
export async function loadBundle(bundleDir: string): Promise<LoadedBundle> {
  const { loadLayersModelFromDir } = await import('../engine/model-io.js');
  const [spec, metrics, model] = await Promise.all([
    readPreprocessSpec(bundleDir),
    readMetrics(bundleDir),
    loadLayersModelFromDir(bundleDir),
  ]);
  try {
    checkModelShape(model.inputs[0]?.shape ?? [], model.outputs.length, spec, bundleDir);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, spec, metrics };
}
