import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ageCalibrationProblem, parsePreprocessSpec } from '../src/data/bundle-format.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { calibrateAge, fitAgeCalibration, isotonic } from '../src/infer/age-calibration.js';
import { Predictor } from '../src/infer/predictor.js';
import { readOut } from '../src/infer/readout.js';
import { writeTestBundle } from './helpers/predict-bundle.js';

// The bundle's optional ageCalibration: a monotone piecewise-linear map from the raw DEX expectation to the
// reported age, checked when preprocess.json is read and applied in the one readout of Node and the browser.

const map = { from: [2, 10, 30, 60], to: [0, 12, 30, 70] };

describe('calibrateAge', () => {
  test('interpolates between knots and keeps the end ages outside them', () => {
    assert.equal(calibrateAge(2, map), 0);
    assert.equal(calibrateAge(6, map), 6);
    assert.equal(calibrateAge(10, map), 12);
    assert.equal(calibrateAge(20, map), 21);
    assert.equal(calibrateAge(45, map), 50);
    assert.equal(calibrateAge(60, map), 70);
    assert.equal(calibrateAge(0.5, map), 0);
    assert.equal(calibrateAge(95, map), 70);
    assert.ok(Number.isNaN(calibrateAge(NaN, map)));
  });

  test('is monotone over the whole range', () => {
    let prev = -Infinity;
    for (let raw = 0; raw <= 100; raw += 0.25) {
      const age = calibrateAge(raw, map);
      assert.ok(age >= prev, `age(${raw}) = ${age} < ${prev}`);
      prev = age;
    }
  });
});

describe('fitting a map', () => {
  test('pool-adjacent-violators gives the closest non-decreasing sequence', () => {
    assert.deepEqual(isotonic([1, 3, 2, 4]), [1, 2.5, 2.5, 4]);
    assert.deepEqual(isotonic([5, 4, 3]), [4, 4, 4]);
    assert.deepEqual(isotonic([1, 3, 2], [1, 1, 3]), [1, 2.25, 2.25]);
  });

  test('each method undoes a pull toward the middle (raw = 20 + age / 2)', () => {
    const answers = [];
    for (let age = 0; age <= 80; age++) for (let k = 0; k < 5; k++) answers.push({ age, raw: 20 + age / 2 });
    for (const method of ['isotonic', 'inverse', 'quantile'] as const) {
      const map = fitAgeCalibration(answers, method, 16);
      assert.equal(ageCalibrationProblem(map), null, method);
      for (const age of [5, 17, 40, 63, 75])
        assert.ok(Math.abs(calibrateAge(20 + age / 2, map) - age) < 1, `${method}: ${age}`);
    }
  });

  test('with noise, inverse leaves each true age unbiased where isotonic keeps the pull', () => {
    // Two answers per age, 6 years either side of the pulled value: E[age | raw] is shrunk, E[raw | age] not.
    const answers = [];
    for (let age = 0; age <= 80; age++)
      for (const e of [-6, 6]) for (let k = 0; k < 3; k++) answers.push({ age, raw: 20 + age / 2 + e });
    const inverse = fitAgeCalibration(answers, 'inverse', 20);
    const iso = fitAgeCalibration(answers, 'isotonic', 20);
    const bias = (map: typeof inverse, age: number) =>
      (calibrateAge(20 + age / 2 - 6, map) + calibrateAge(20 + age / 2 + 6, map)) / 2 - age;
    assert.ok(Math.abs(bias(inverse, 40)) < 1.5, `inverse at 40: ${bias(inverse, 40)}`);
    assert.ok(bias(iso, 70) < bias(inverse, 70) - 1, 'isotonic answers the old younger');
  });
});

describe('preprocess.json ageCalibration', () => {
  const spec = () => defaultPreprocessSpec(64);

  test('an old bundle without it loads unchanged', () => {
    const parsed = parsePreprocessSpec(spec(), 'old/preprocess.json');
    assert.equal(parsed.ageCalibration, undefined);
  });

  test('a valid map is kept', () => {
    const parsed = parsePreprocessSpec({ ...spec(), ageCalibration: map }, 'x/preprocess.json');
    assert.deepEqual(parsed.ageCalibration, map);
  });

  test('a bad map is refused with one line naming the file and the reason', () => {
    const bad: [unknown, RegExp][] = [
      [null, /expected \{ from/],
      [{ from: [1, 2] }, /expected \{ from/],
      [{ from: [1], to: [1] }, /same length, at least 2/],
      [{ from: [1, 2, 3], to: [1, 2] }, /same length/],
      [{ from: [1, 1], to: [1, 2] }, /from must be strictly increasing \(index 1\)/],
      [{ from: [1, 2], to: [5, 4] }, /to must not decrease \(index 1\)/],
      [{ from: [1, 'a'], to: [1, 2] }, /finite numbers/],
    ];
    for (const [value, why] of bad) {
      assert.match(ageCalibrationProblem(value) ?? 'accepted', why);
      assert.throws(
        () => parsePreprocessSpec({ ...spec(), ageCalibration: value }, 'm/preprocess.json'),
        (err: Error) =>
          /^m\/preprocess\.json: bad ageCalibration: /.test(err.message) && why.test(err.message),
      );
    }
  });

  test('readOut maps the expectation; the spread and the distribution stay raw', () => {
    const p = new Float32Array(101);
    p[20] = 0.5;
    p[40] = 0.5; // expectation 30, spread 10
    const g = new Float32Array([0.2, 0.8]);
    const [plain] = readOut(p, g, 1, spec());
    const [mapped] = readOut(p, g, 1, { ...spec(), ageCalibration: { from: [0, 100], to: [10, 60] } }, true);
    assert.equal(plain!.age, 30);
    assert.equal(plain!.label, 'M/30');
    assert.equal(mapped!.age, 25);
    assert.equal(mapped!.label, 'M/25');
    assert.equal(mapped!.ageSpread, plain!.ageSpread);
    assert.equal(mapped!.ageDistribution![40], 0.5);
  });
});

describe('a bundle with and without ageCalibration', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agegender-agecal-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('the predictor reports calibrateAge(raw expectation) only when the bundle has a map', async () => {
    const plainDir = await writeTestBundle(path.join(dir, 'plain'));
    const calDir = await writeTestBundle(path.join(dir, 'cal'));
    const specFile = path.join(calDir, 'preprocess.json');
    const calibration = { from: [0, 100], to: [10, 60] };
    const spec = JSON.parse(await fs.readFile(specFile, 'utf8'));
    await fs.writeFile(specFile, JSON.stringify({ ...spec, ageCalibration: calibration }));
    const pixels = { data: new Uint8Array(64 * 64 * 3).map((_, i) => (i * 37) % 251), width: 64, height: 64 };
    const ask = async (modelDir: string) => {
      const p = await Predictor.load({ modelDir, threads: 1 });
      try {
        return (await p.predict(pixels, { detect: false, ageDistribution: true }))[0]!;
      } finally {
        await p.dispose();
      }
    };
    const plain = await ask(plainDir);
    const cal = await ask(calDir);
    assert.deepEqual(cal.ageDistribution, plain.ageDistribution);
    let raw = 0;
    plain.ageDistribution!.forEach((p, k) => (raw += p * k));
    assert.ok(Math.abs(plain.age - raw) < 0.01, `plain ${plain.age} vs raw ${raw}`);
    assert.ok(Math.abs(cal.age - calibrateAge(raw, calibration)) < 0.01, `${cal.age} vs ${raw}`);
    assert.ok(Math.abs(cal.age - plain.age) > 1, 'the map changes the answer');
  });
});
