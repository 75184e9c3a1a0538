import { UserError } from '../util/errors.js';
import type { AgeCalibration, PreprocessSpec } from './preprocess-spec.js';

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
  if (spec.ageCalibration !== undefined) {
    const problem = ageCalibrationProblem(spec.ageCalibration);
    if (problem) throw new UserError(`${where}: bad ageCalibration: ${problem}`);
  }
  spec.faceCrop ??= null;
  return spec;
}

/**
 * Why a parsed `ageCalibration` cannot be used, or null when it can: two or more knots, finite numbers,
 * `from` strictly increasing, `to` never decreasing (the map must keep older faces older).
 */
export function ageCalibrationProblem(value: unknown): string | null {
  const map = value as Partial<AgeCalibration> | null;
  const { from, to } = map ?? {};
  if (!Array.isArray(from) || !Array.isArray(to)) return 'expected { from: number[], to: number[] }';
  if (from.length < 2 || from.length !== to.length)
    return `from and to must have the same length, at least 2 (found ${from.length} and ${to.length})`;
  if (![...from, ...to].every((v) => typeof v === 'number' && Number.isFinite(v)))
    return 'from and to must hold finite numbers';
  for (let i = 1; i < from.length; i++) {
    if (!(from[i]! > from[i - 1]!)) return `from must be strictly increasing (index ${i})`;
    if (!(to[i]! >= to[i - 1]!)) return `to must not decrease (index ${i})`;
  }
  return null;
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
