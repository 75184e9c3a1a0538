import { UserError } from '../util/errors.js';
import { mulberry32, shuffleInPlace } from '../util/random.js';
import { parseDecimal } from '../util/decimal.js';

/** Fractions of the rows for train / val / test; test is 0 when only two ratios were given. */
export interface SplitRatio {
  train: number;
  val: number;
  test: number;
}

/** Parses `--split-ratio` text such as "0.8,0.1,0.1" or "0.9,0.1" (train,val[,test]); they must sum to 1. */
export function parseSplitRatio(text: string): SplitRatio {
  const parts = text.split(',').map((p) => p.trim());
  const nums = parts.map((p) => parseDecimal(p) ?? NaN);
  if (parts.length < 2 || parts.length > 3 || nums.some((n) => !Number.isFinite(n) || n < 0)) {
    throw new UserError(
      `--split-ratio "${text}": expected 2 or 3 non-negative numbers train,val[,test] such as 0.8,0.1,0.1`,
    );
  }
  const [train, val, test = 0] = nums as [number, number, number?];
  const sum = train + val + test;
  if (Math.abs(sum - 1) > 1e-6)
    throw new UserError(`--split-ratio "${text}": the ratios sum to ${sum}, not 1`);
  if (train <= 0) throw new UserError(`--split-ratio "${text}": the train ratio must be above 0`);
  return { train, val, test };
}

export interface Split<T> {
  train: T[];
  val: T[];
  test: T[];
}

/**
 * Splits rows by identity: all rows of one group (a person) land in the same part, so the validation
 * and test sets measure generalisation to unseen people (the seed split rows at random, leaking faces).
 * Groups are sorted, shuffled with the seed, then poured into train, val and test until each part holds
 * its share of the rows; the same rows, ratio and seed always give the same split. Rows keep their
 * input order inside each part.
 */
export function splitByGroup<T>(
  rows: readonly T[],
  groupOf: (row: T) => string,
  ratio: SplitRatio,
  seed: number,
): Split<T> {
  const byGroup = new Map<string, number[]>();
  rows.forEach((row, i) => {
    const key = groupOf(row);
    let list = byGroup.get(key);
    if (!list) byGroup.set(key, (list = []));
    list.push(i);
  });
  const groups = [...byGroup.keys()].sort();
  shuffleInPlace(groups, mulberry32(seed));
  const part = new Int8Array(rows.length);
  const trainEnd = ratio.train * rows.length;
  const valEnd = (ratio.train + ratio.val) * rows.length;
  let filled = 0;
  for (const g of groups) {
    const members = byGroup.get(g)!;
    // A group goes where its first row falls on the cumulative scale, so each boundary is off by at most
    // one group's size.
    const p = filled < trainEnd ? 0 : filled < valEnd || ratio.test === 0 ? 1 : 2;
    for (const i of members) part[i] = p;
    filled += members.length;
  }
  const out: Split<T> = { train: [], val: [], test: [] };
  rows.forEach((row, i) => (part[i] === 0 ? out.train : part[i] === 1 ? out.val : out.test).push(row));
  return out;
}
