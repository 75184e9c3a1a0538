import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AGE_BAND_STARTS, ageBandOf, ageBandWeights, balancedAgeWeights } from '../src/train/age-bands.js';

describe('balanced age bands', () => {
  it('bands are the benchmark groups 0-2, 3-9, 10-19, ..., 70+', () => {
    assert.deepEqual([0, 2, 3, 9, 10, 19, 20, 69, 70, 100].map(ageBandOf), [0, 0, 1, 1, 2, 2, 3, 7, 8, 8]);
    assert.equal(AGE_BAND_STARTS.length, 9);
  });

  it('power 1: every band with rows weighs alike in total, the mean row weight is 1', () => {
    // 6 rows aged 25, 2 aged 5, 1 aged 75: three bands.
    const ages = [25, 25, 25, 25, 25, 25, 5, 5, 75];
    const w = ageBandWeights(ages, 1);
    const total = (a: number) => ages.filter((x) => ageBandOf(x) === ageBandOf(a)).length * w[a]!;
    assert.ok(Math.abs(total(25) - total(5)) < 1e-5 && Math.abs(total(5) - total(75)) < 1e-5);
    const mean = ages.reduce((s, a) => s + w[a]!, 0) / ages.length;
    assert.ok(Math.abs(mean - 1) < 1e-6);
    assert.ok(w[75]! > w[5]! && w[5]! > w[25]!);
    assert.equal(w[45], 0, 'a band without rows');
  });

  it('power 0.5 is the square root of the ratio; power 0 weighs every row 1', () => {
    const ages = [25, 25, 25, 25, 5];
    const half = ageBandWeights(ages, 0.5);
    assert.ok(Math.abs(half[5]! / half[25]! - 2) < 1e-5, 'sqrt(4 / 1)');
    const none = ageBandWeights(ages, 0);
    assert.deepEqual([none[5], none[25]], [1, 1]);
  });

  it('a training phase weighs its rows only at a power above 0', () => {
    const ages = [25, 25, 25, 25, 5];
    assert.equal(balancedAgeWeights(ages, 0), undefined);
    assert.deepEqual(balancedAgeWeights(ages, 0.5), ageBandWeights(ages, 0.5));
  });
});
