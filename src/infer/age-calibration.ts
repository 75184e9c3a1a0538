import type { AgeCalibration } from '../data/preprocess-spec.js';

/**
 * The bundle's age calibration (preprocess.json `ageCalibration`): a monotone piecewise-linear map from
 * the network's raw DEX expectation to the reported age. Between two knots the age is interpolated; below
 * the first knot or above the last one the end knot's age is kept (a monotone fit says nothing beyond its
 * data). Pure, shared by Node and the browser through readout.ts.
 */
export function calibrateAge(raw: number, map: AgeCalibration): number {
  const { from, to } = map;
  if (!(raw > from[0]!)) return Number.isNaN(raw) ? raw : to[0]!;
  const last = from.length - 1;
  if (raw >= from[last]!) return to[last]!;
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (from[mid]! <= raw) lo = mid;
    else hi = mid;
  }
  const t = (raw - from[lo]!) / (from[hi]! - from[lo]!);
  return to[lo]! + t * (to[hi]! - to[lo]!);
}

/**
 * Pool-adjacent-violators: the non-decreasing sequence closest to `y` (weighted least squares), for points
 * already sorted by their x. Returns one fitted value per point.
 */
export function isotonic(y: number[], w: number[] = y.map(() => 1)): number[] {
  const blocks: { sum: number; weight: number; count: number }[] = [];
  y.forEach((v, i) => {
    blocks.push({ sum: v * w[i]!, weight: w[i]!, count: 1 });
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1]!;
      const a = blocks[blocks.length - 2]!;
      if (a.sum / a.weight <= b.sum / b.weight) break;
      blocks.splice(-2, 2, { sum: a.sum + b.sum, weight: a.weight + b.weight, count: a.count + b.count });
    }
  });
  return blocks.flatMap((b) => new Array<number>(b.count).fill(b.sum / b.weight));
}

/** A labelled raw answer: the network's raw expectation and the true age. */
export interface RawAnswer {
  raw: number;
  age: number;
}

/**
 * Knots of a monotone piecewise-linear map, from the (x, y) points of a monotone fit sorted by x: the points
 * are pooled into `bins` groups of equal count (quantile knots), each giving (mean x, mean fitted y); knots
 * whose x repeats are merged, so `from` is strictly increasing, and `to` is non-decreasing as the fit is.
 */
function quantileKnots(x: number[], fitted: number[], bins: number): AgeCalibration {
  const from: number[] = [];
  const to: number[] = [];
  const n = x.length;
  const k = Math.max(2, Math.min(bins, n));
  for (let b = 0; b < k; b++) {
    const lo = Math.floor((b * n) / k);
    const hi = Math.floor(((b + 1) * n) / k);
    if (hi <= lo) continue;
    let sx = 0;
    let sy = 0;
    for (let i = lo; i < hi; i++) {
      sx += x[i]!;
      sy += fitted[i]!;
    }
    const fx = sx / (hi - lo);
    const fy = sy / (hi - lo);
    if (from.length > 0 && fx <= from.at(-1)!) to[to.length - 1] = Math.max(to.at(-1)!, fy);
    else {
      from.push(fx);
      to.push(Math.max(fy, to.at(-1) ?? -Infinity));
    }
  }
  return { from, to };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/**
 * The age to report for each raw expectation, fitted on labelled raw answers, as quantile knots:
 * - 'isotonic': the mean true age among faces with that raw answer (isotonic regression of age on raw):
 *   the least-squares answer, which keeps some pull toward the fitting set's mean age;
 * - 'inverse': the age whose faces get that raw answer on average (isotonic regression of raw on age,
 *   inverted): removes the pull per true age (each age's mean signed error near 0), at some cost in MAE;
 * - 'quantile': the age at the same quantile of the true ages as the raw answer among the raw answers:
 *   the answers get the fitting set's age distribution.
 */
export function fitAgeCalibration(
  answers: RawAnswer[],
  method: 'isotonic' | 'inverse' | 'quantile',
  bins = 24,
  range: { min: number; max: number } = { min: 0, max: 100 },
): AgeCalibration {
  if (answers.length < 2) throw new Error('need at least 2 labelled answers to fit an age calibration');
  let map: AgeCalibration;
  if (method === 'inverse') {
    const byAge = [...answers].sort((a, b) => a.age - b.age || a.raw - b.raw);
    const fittedRaw = isotonic(byAge.map((a) => a.raw));
    // (fitted raw, age) is monotone in both: read it the other way round.
    map = quantileKnots(
      fittedRaw,
      byAge.map((a) => a.age),
      bins,
    );
  } else if (method === 'quantile') {
    const raws = answers.map((a) => a.raw).sort((a, b) => a - b);
    const ages = answers.map((a) => a.age).sort((a, b) => a - b);
    map = quantileKnots(raws, ages, bins);
  } else {
    const byRaw = [...answers].sort((a, b) => a.raw - b.raw);
    map = quantileKnots(
      byRaw.map((a) => a.raw),
      isotonic(byRaw.map((a) => a.age)),
      bins,
    );
  }
  // Beyond the fitting data, run to the ends of the age range (raw min -> min, raw max -> max) rather than
  // holding the end knots' ages: a set without babies must not lift every baby to its youngest age.
  const from: number[] = [];
  const to: number[] = [];
  map.from.forEach((x, i) => {
    const [fx, fy] = [round3(x), round3(map.to[i]!)];
    if (from.length > 0 && fx <= from.at(-1)!) to[to.length - 1] = Math.max(to.at(-1)!, fy);
    else {
      from.push(fx);
      to.push(fy);
    }
  });
  if (from[0]! > range.min && to[0]! >= range.min) {
    from.unshift(range.min);
    to.unshift(range.min);
  }
  if (from.at(-1)! < range.max && to.at(-1)! <= range.max) {
    from.push(range.max);
    to.push(range.max);
  }
  return { from, to };
}
