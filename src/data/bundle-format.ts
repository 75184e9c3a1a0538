import { UserError } from '../util/errors.js';
import type { PreprocessSpec } from './preprocess-spec.js';

/**
 * The serving bundle, one directory (or URL prefix) that Node and the browser both read:
 * model.json + weights.bin (tfjs layers format), preprocess.json (PreprocessSpec), metrics.json.
 * Its file names live here only; this module is pure (no Node API) so that src/web/ shares it.
 */
export const BUNDLE_FILES = {
  model: 'model.json',
  weights: 'weights.bin',
  preprocess: 'preprocess.json',
  metrics: 'metrics.json',
} as const;

/**
 * Checks a parsed preprocess.json; `where` names it in the message (a path or a URL). Fills the optional
 * faceCrop with null. Anything a predictor relies on is checked, so a bad bundle fails here, not later.
 */
export function parsePreprocessSpec(json: unknown, where: string): PreprocessSpec {
  const spec = json as PreprocessSpec | null;
  if (spec?.format !== 'agegender-preprocess' || !Number.isInteger(spec.imageSize)) {
    throw new UserError(`${where}: not an agegender preprocess.json (format / imageSize missing)`);
  }
  const norm = spec.normalization as PreprocessSpec['normalization'] | undefined;
  const normOk =
    norm?.kind === 'per-image-standardization' ||
    (norm?.kind === 'mean-scale' &&
      Array.isArray(norm.mean) &&
      norm.mean.length === 3 &&
      norm.mean.every(Number.isFinite) &&
      Number.isFinite(norm.scale));
  if (!normOk) {
    throw new UserError(`${where}: unknown normalization ${JSON.stringify(norm ?? null)}`);
  }
  const age = spec.age;
  if (!(age && Number.isInteger(age.classes) && age.classes > 0 && Number.isFinite(age.min))) {
    throw new UserError(`${where}: age head description (age.min, age.classes) missing`);
  }
  spec.faceCrop ??= null;
  return spec;
}

/** The network must take imageSize x imageSize x 3 and give two outputs (age, gender). */
export function checkModelShape(
  inputShape: readonly (number | null)[],
  outputCount: number,
  spec: Pick<PreprocessSpec, 'imageSize'>,
  where: string,
): void {
  if (inputShape[1] !== spec.imageSize || inputShape[2] !== spec.imageSize || inputShape[3] !== 3) {
    throw new UserError(
      `${where}: model input [${inputShape.join(', ')}] does not match preprocess.json imageSize ${spec.imageSize}`,
    );
  }
  if (outputCount !== 2) {
    throw new UserError(`${where}: expected 2 model outputs (age, gender), found ${outputCount}`);
  }
}
