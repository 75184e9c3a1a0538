import { AGE_BAND_STARTS, ageBandOf } from '../src/train/age-bands.js';

/**
 * Age scoring for bench/accuracy-vs-faceapi.ts: the FairFace-style
 * age groups (0-2, 3-9, 10-19, ..., 60-69, 70+) and, per group, accuracy (an answer counts when its rounded
 * age falls in the true group; a photo without a face counts as wrong), MAE and the mean signed error
 * (predicted - true: positive = answered too old) over the images with an answer.
 */

/** The training's balanced age bands (src/train/age-bands.ts), named: 0-2, 3-9, ..., 60-69, 70+. */
export const GROUPS = AGE_BAND_STARTS.map((start, i) =>
  i + 1 < AGE_BAND_STARTS.length ? `${start}-${AGE_BAND_STARTS[i + 1]! - 1}` : `${start}+`,
);
export const groupOf = ageBandOf;

export interface GroupScore {
  n: number;
  found: number;
  accuracy: number;
  mae: number | null;
  bias: number | null;
}

export interface AgeScores {
  n: number;
  found: number;
  mae: number;
  /** Mean signed error (predicted - true) over all images with an answer. */
  bias: number;
  cs5: number;
  ageGroup: number;
  /** Mean of the groups' accuracies (groups with images): the age-group accuracy on a set of equal groups. */
  balanced: number;
  byGroup: Record<string, GroupScore>;
}

const r3 = (v: number) => Number(v.toFixed(3));

/** Scores predicted ages (null: no face found) against true ages. */
export function scoreAges(trueAges: number[], predicted: (number | null)[]): AgeScores {
  const g = GROUPS.map(() => ({ n: 0, found: 0, right: 0, abs: 0, signed: 0 }));
  let found = 0;
  let abs = 0;
  let signed = 0;
  let within5 = 0;
  let right = 0;
  trueAges.forEach((t, i) => {
    const s = g[groupOf(t)]!;
    s.n++;
    const p = predicted[i];
    if (p == null) return;
    found++;
    s.found++;
    abs += Math.abs(p - t);
    signed += p - t;
    s.abs += Math.abs(p - t);
    s.signed += p - t;
    if (Math.abs(p - t) <= 5) within5++;
    if (groupOf(Math.round(p)) === groupOf(t)) {
      right++;
      s.right++;
    }
  });
  const present = g.filter((s) => s.n > 0);
  return {
    n: trueAges.length,
    found,
    mae: r3(abs / Math.max(1, found)),
    bias: r3(signed / Math.max(1, found)),
    cs5: r3(within5 / Math.max(1, found)),
    ageGroup: r3(right / Math.max(1, trueAges.length)),
    balanced: r3(present.reduce((sum, s) => sum + s.right / s.n, 0) / Math.max(1, present.length)),
    byGroup: Object.fromEntries(
      GROUPS.map((name, k) => {
        const s = g[k]!;
        return [
          name,
          {
            n: s.n,
            found: s.found,
            accuracy: r3(s.right / Math.max(1, s.n)),
            mae: s.found ? r3(s.abs / s.found) : null,
            bias: s.found ? r3(s.signed / s.found) : null,
          },
        ];
      }),
    ),
  };
}

/** DEX expectation of an age distribution (class k = age min + k). */
export function expectation(p: ArrayLike<number>, min = 0): number {
  let m = 0;
  for (let k = 0; k < p.length; k++) m += p[k]! * (min + k);
  return m;
}

/** Median of an age distribution, interpolated inside the class where the cumulative mass crosses 0.5. */
export function distributionMedian(p: ArrayLike<number>, min = 0): number {
  let total = 0;
  for (let k = 0; k < p.length; k++) total += p[k]!;
  let cum = 0;
  for (let k = 0; k < p.length; k++) {
    const next = cum + p[k]! / total;
    // Class k covers ages [k - 0.5, k + 0.5): interpolate where the half-way mass falls.
    if (next >= 0.5) return min + k - 0.5 + (p[k]! > 0 ? (0.5 - cum) / (next - cum) : 0.5);
    cum = next;
  }
  return min + p.length - 1;
}

/** Markdown rows: per age group, accuracy / MAE / mean signed error of each system named in `cols`. */
export function groupTable(cols: Record<string, AgeScores>): string[] {
  const names = Object.keys(cols);
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const yrs = (v: number | null) => (v == null ? '-' : v.toFixed(2));
  const signedYrs = (v: number | null) => (v == null ? '-' : `${v >= 0 ? '+' : ''}${v.toFixed(2)}`);
  const lines = [
    `| age group | n | accuracy (${names.join(' / ')}) | MAE (${names.join(' / ')}) | mean signed error (${names.join(' / ')}) |`,
    '|---|---|---|---|---|',
  ];
  for (const g of GROUPS) {
    const first = cols[names[0]!]!.byGroup[g]!;
    if (first.n === 0) continue;
    const each = (f: (s: GroupScore) => string) => names.map((k) => f(cols[k]!.byGroup[g]!)).join(' / ');
    lines.push(
      `| ${g} | ${first.n} | ${each((s) => pct(s.accuracy))} | ${each((s) => yrs(s.mae))} | ${each((s) => signedYrs(s.bias))} |`,
    );
  }
  const all = (f: (s: AgeScores) => string) => names.map((k) => f(cols[k]!)).join(' / ');
  lines.push(
    `| all | ${cols[names[0]!]!.n} | ${all((s) => pct(s.ageGroup))} | ${all((s) => s.mae.toFixed(2))} | ${all((s) => signedYrs(s.bias))} |`,
    `| mean of the groups | | ${all((s) => pct(s.balanced))} | | |`,
  );
  return lines;
}
