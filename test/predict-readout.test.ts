import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePreprocessSpec } from '../src/data/bundle-format.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { distributionMedian, readOut } from '../src/infer/readout.js';

/** A baby's distribution: most mass at 1, a long tail up to 20 (the mean is pulled up, the median not). */
function babyDistribution(): Float32Array {
  const p = new Float32Array(101);
  p[1] = 0.6;
  for (let a = 2; a <= 21; a++) p[a] = 0.02;
  return p;
}

describe('age readout', () => {
  it('median: interpolated inside the class where the mass crosses one half', () => {
    const p = new Float32Array(101);
    p[30] = 1;
    assert.equal(distributionMedian(p), 30);
    p[30] = 0.5;
    p[40] = 0.5;
    assert.equal(distributionMedian(p), 30.5);
    // 0.6 at age 1: half the mass is reached 5/6 of the way through class 1, [0.5, 1.5).
    assert.ok(Math.abs(distributionMedian(babyDistribution()) - (0.5 + 0.5 / 0.6)) < 1e-6);
  });

  it("the bundle's age.readout chooses the median or the mean (absent: the mean)", () => {
    const gender = new Float32Array([0.2, 0.8]);
    const spec = defaultPreprocessSpec(64);
    const mean = readOut(babyDistribution(), gender, 1, spec)[0]!;
    assert.ok(Math.abs(mean.age - 5.2) < 0.01, `mean ${mean.age}`);
    assert.equal(mean.label, 'M/5');
    const median = readOut(babyDistribution(), gender, 1, { age: { ...spec.age, readout: 'median' } })[0]!;
    assert.ok(Math.abs(median.age - 1.33) < 0.01, `median ${median.age}`);
    assert.equal(median.label, 'M/1');
    assert.equal(median.ageSpread, mean.ageSpread, 'the spread is of the distribution either way');
  });

  it('preprocess.json with an unknown age.readout is refused, naming the file', () => {
    const spec = defaultPreprocessSpec(64);
    assert.equal(
      parsePreprocessSpec({ ...spec, age: { ...spec.age, readout: 'median' } }, 'x').age.readout,
      'median',
    );
    assert.throws(
      () => parsePreprocessSpec({ ...spec, age: { ...spec.age, readout: 'mode' } }, 'm/preprocess.json'),
      /^UserError: m\/preprocess.json: unknown age.readout "mode"/,
    );
  });
});
