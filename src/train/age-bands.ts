/**
 * Balanced age bands: per-row weights of the age term so that sparse age bands count more. UTKFace's
 * rows are 27% aged 20-29 and AAF has few teenagers, so an unweighted age loss learns to answer toward
 * the middle; weighting each row by (rows / (bands x rows in its band))^power pulls the answers for the
 * young and the old back out. Power 0 is no weighting, 1 makes every band count alike.
 */

/** The bands: 0-2, 3-9, 10-19, ..., 60-69, 70+ (the age groups the benchmarks report). */
export const AGE_BAND_STARTS = [0, 3, 10, 20, 30, 40, 50, 60, 70] as const;

export function ageBandOf(age: number): number {
  let b = 0;
  while (b + 1 < AGE_BAND_STARTS.length && age >= AGE_BAND_STARTS[b + 1]!) b++;
  return b;
}

/**
 * A weight per age 0..maxAge (index = age) from the training rows' ages: (n / (B * n_band))^power, B
 * the bands that hold rows, scaled so the rows' mean weight is 1 (the loss keeps its size, and the
 * learning rate its meaning). Ages of empty bands get weight 0 (no row has them).
 */
export function ageBandWeights(ages: ArrayLike<number>, power: number, maxAge = 100): Float32Array {
  const counts = new Array<number>(AGE_BAND_STARTS.length).fill(0);
  for (let i = 0; i < ages.length; i++) counts[ageBandOf(ages[i]!)]!++;
  const bands = counts.filter((c) => c > 0).length;
  const raw = counts.map((c) => (c > 0 ? (ages.length / (bands * c)) ** power : 0));
  let mean = 0;
  for (let i = 0; i < ages.length; i++) mean += raw[ageBandOf(ages[i]!)]!;
  mean /= Math.max(1, ages.length);
  const out = new Float32Array(maxAge + 1);
  for (let a = 0; a <= maxAge; a++) out[a] = mean > 0 ? raw[ageBandOf(a)]! / mean : 0;
  return out;
}

/** The weights a training phase applies: none (undefined) at power 0, the plain age loss. */
export function balancedAgeWeights(ages: ArrayLike<number>, power: number): Float32Array | undefined {
  return power > 0 ? ageBandWeights(ages, power) : undefined;
}
