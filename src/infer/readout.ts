import type * as tfTypes from '@tensorflow/tfjs';
import { normalizeInto } from '../data/normalize.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import { round } from '../util/round.js';
import { filledTensor } from './filled-tensor.js';
import { formatLabel, type FaceResult } from './types.js';

/** One face's answer without its place; with `withDistribution`, also the network's age distribution. */
export type FaceAnswer = Omit<FaceResult, 'box' | 'score'> & { ageDistribution?: Float32Array };

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
  withDistribution = false,
): FaceAnswer[] {
  const classes = spec.age.classes;
  const out: FaceAnswer[] = [];
  for (let i = 0; i < count; i++) {
    let mean = 0;
    for (let k = 0; k < classes; k++) mean += ageP[i * classes + k]! * (spec.age.min + k);
    let variance = 0;
    for (let k = 0; k < classes; k++) variance += ageP[i * classes + k]! * (spec.age.min + k - mean) ** 2;
    const pMale = genderP[i * 2 + 1]!;
    const gender = pMale >= 0.5 ? 'M' : 'F';
    const answer: FaceAnswer = {
      age: round(mean, 2),
      ageSpread: round(Math.sqrt(variance), 2),
      gender,
      pMale: round(pMale, 4),
      pFemale: round(1 - pMale, 4),
      label: formatLabel(gender, mean),
    };
    if (withDistribution) answer.ageDistribution = ageP.slice(i * classes, (i + 1) * classes);
    out.push(answer);
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

/**
 * Face crops (HWC uint8, imageSize square) -> answers, through the bundle's model: normalisation, the
 * network, softmax, and with `flipAverage` the mirrored crops too (the two softmax outputs averaged, as
 * training scored it), then readOut. `tf` is passed in so that the Node predictor and the browser entry,
 * which hold different tfjs instances, share this code.
 */
export async function classifyFaceCrops(
  tf: typeof tfTypes,
  model: tfTypes.LayersModel,
  crops: Uint8Array[],
  spec: Pick<PreprocessSpec, 'age' | 'imageSize' | 'normalization' | 'flipAverage'>,
  withDistribution = false,
): Promise<FaceAnswer[]> {
  if (crops.length === 0) return [];
  const size = spec.imageSize;
  const per = size * size * 3;
  const views = spec.flipAverage ? 2 : 1;
  const n = crops.length;
  // Normalised straight into the input tensor's memory (filled-tensor.ts), the mirrored views after the others.
  const fill = (batch: Float32Array) =>
    crops.forEach((c, i) => {
      normalizeInto(c, spec.normalization, size, batch, i * per);
      if (views === 2) normalizeInto(c, spec.normalization, size, batch, (n + i) * per, true);
    });
  const idx = outputIndices(model.outputNames);
  const probs = tf.tidy(() => {
    const outputs = model.predict(filledTensor(tf, [views * n, size, size, 3], fill)) as tfTypes.Tensor[];
    const mean = (t: tfTypes.Tensor) => {
      const p = tf.softmax(t);
      return views === 2 ? tf.div(tf.add(p.slice(0, n), p.slice(n, n)), 2) : p;
    };
    return [mean(outputs[idx.age]!), mean(outputs[idx.gender]!)];
  });
  try {
    const [ageP, genderP] = (await Promise.all(probs.map((t) => t.data()))) as Float32Array[];
    return readOut(ageP!, genderP!, n, spec, withDistribution);
  } finally {
    tf.dispose(probs);
  }
}
