import type { PreprocessSpec } from '../data/preprocess-spec.js';
import { round } from '../util/round.js';
import { formatLabel, type FaceResult } from './types.js';

/**
 * The network's two softmax outputs -> the answer per face, pure (shared with the browser entry): age is
 * the DEX expectation over the classes (sum of p_i * age_i), ageSpread the standard deviation of that
 * distribution, gender M when P(male) (output index 1) is at least 0.5.
 */
export function readOut(
  ageP: Float32Array,
  genderP: Float32Array,
  count: number,
  spec: Pick<PreprocessSpec, 'age'>,
): Omit<FaceResult, 'box' | 'score'>[] {
  const classes = spec.age.classes;
  const out: Omit<FaceResult, 'box' | 'score'>[] = [];
  for (let i = 0; i < count; i++) {
    let mean = 0;
    for (let k = 0; k < classes; k++) mean += ageP[i * classes + k]! * (spec.age.min + k);
    let variance = 0;
    for (let k = 0; k < classes; k++) variance += ageP[i * classes + k]! * (spec.age.min + k - mean) ** 2;
    const pMale = genderP[i * 2 + 1]!;
    const gender = pMale >= 0.5 ? 'M' : 'F';
    out.push({
      age: round(mean, 2),
      ageSpread: round(Math.sqrt(variance), 2),
      gender,
      pMale: round(pMale, 4),
      pFemale: round(1 - pMale, 4),
      label: formatLabel(gender, mean),
    });
  }
  return out;
}

/** Output indices of the age and gender heads: fixed order (age, gender), names honoured when present. */
export function outputIndices(outputNames: string[]): { age: number; gender: number } {
  return {
    age: outputNames.includes('age') ? outputNames.indexOf('age') : 0,
    gender: outputNames.includes('gender') ? outputNames.indexOf('gender') : 1,
  };
}
