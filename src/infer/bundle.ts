import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { BUNDLE_FILES, checkModelShape, parsePreprocessSpec } from '../data/bundle-format.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import { confinedPath } from '../util/confine.js';
import { UserError, reason } from '../util/errors.js';
import { readRegularFile } from '../util/regular-file.js';

/**
 * Reading a serving bundle from disk (src/data/bundle-format.ts says what one is; src/web/ reads it by URL).
 * A model folder is input like any photo: its files must be regular files of sane size (a FIFO or a device
 * would hang or flood the reader) and model.json may only name weight files inside the folder.
 */

/** Largest JSON file of a bundle read (model.json of the default model is ~0.1 MB). */
const MAX_JSON_BYTES = 64 * 1024 * 1024;
/** Largest total of weight files (the default model's weights are ~21 MB). */
const MAX_WEIGHT_BYTES = 4 * 1024 * 1024 * 1024;

/** Reads a bundle's preprocess.json (a one-line UserError naming the file when it is missing or bad). */
export async function readPreprocessSpec(bundleDir: string): Promise<PreprocessSpec> {
  const file = path.join(bundleDir, BUNDLE_FILES.preprocess);
  let json: unknown;
  try {
    json = JSON.parse((await readRegularFile(file, MAX_JSON_BYTES)).toString('utf8'));
  } catch (err) {
    throw new UserError(`${file}: cannot read preprocessing spec: ${reason(err)}`);
  }
  return parsePreprocessSpec(json, file);
}

/** metrics.json, or null: it is informative only (shown by /v1/model), never required. */
export async function readMetrics(bundleDir: string): Promise<unknown> {
  try {
    const file = path.join(bundleDir, BUNDLE_FILES.metrics);
    return JSON.parse((await readRegularFile(file, MAX_JSON_BYTES)).toString('utf8'));
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

/**
 * Network, spec and metrics of a bundle, checked against each other. The tfjs backend must be set.
 * `inference`: the network only predicts (ReLUs fused into the convolutions, see engine/fuse-relu.ts).
 */
export async function loadBundle(
  bundleDir: string,
  opts: { inference?: boolean } = {},
): Promise<LoadedBundle> {
  const [{ loadLayersModelFromDir }, { loadInferenceModel }] = await Promise.all([
    import('../engine/model-io.js'),
    import('./inference-model.js'),
  ]);
  await checkModelFiles(bundleDir);
  const [spec, metrics, model] = await Promise.all([
    readPreprocessSpec(bundleDir),
    readMetrics(bundleDir),
    opts.inference ? loadInferenceModel(bundleDir) : loadLayersModelFromDir(bundleDir),
  ]);
  try {
    checkModelShape(model.inputs[0]?.shape ?? [], model.outputs.length, spec, bundleDir);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, spec, metrics };
}

/**
 * model.json and the weight files it lists, checked before tfjs reads them: regular files, weight paths
 * inside the folder (not `../../elsewhere.bin` or an absolute path), sizes within bounds.
 */
async function checkModelFiles(bundleDir: string): Promise<void> {
  const file = path.join(bundleDir, BUNDLE_FILES.model);
  let json: { weightsManifest?: { paths?: unknown }[] };
  try {
    json = JSON.parse((await readRegularFile(file, MAX_JSON_BYTES)).toString('utf8'));
  } catch (err) {
    throw new UserError(`${file}: cannot read model: ${reason(err)}`);
  }
  let total = 0;
  for (const group of Array.isArray(json?.weightsManifest) ? json.weightsManifest : []) {
    for (const listed of Array.isArray(group?.paths) ? group.paths : []) {
      const weights = typeof listed === 'string' ? confinedPath(bundleDir, listed) : null;
      if (!weights)
        throw new UserError(
          `${file}: weight file ${JSON.stringify(listed)} is not a file inside the model folder; refusing to read it`,
        );
      const st = await fs.stat(weights).catch((err: unknown) => {
        throw new UserError(`${weights}: cannot read weights: ${reason(err)}`);
      });
      if (!st.isFile())
        throw new UserError(`${weights}: cannot read weights: not a regular file (a FIFO, socket or device)`);
      total += st.size;
      if (total > MAX_WEIGHT_BYTES)
        throw new UserError(
          `${weights}: weight files over ${MAX_WEIGHT_BYTES} bytes in all; refusing to read them`,
        );
    }
  }
}
