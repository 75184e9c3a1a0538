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
