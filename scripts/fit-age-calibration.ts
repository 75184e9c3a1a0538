/**
 * Fits the bundle's age calibration (preprocess.json `ageCalibration`, src/infer/age-calibration.ts): a
 * monotone map from the network's raw DEX expectation to the reported age, on labelled faces that the
 * figures you report are not measured on.
 *
 * 1. collect: the predictor's raw answers (the expectation and the median of the age distribution, before
 *    any calibration the bundle has) with the true ages, into one JSON file. Photos go through the detect
 *    path (--photos CSV,DIR: the best-scoring face counts, photos without one are left out); crops are
 *    scored as they are (--crops CSV,DIR). CSVs are `agegender preprocess` outputs (filename, age, gender).
 *
 *    npx tsx scripts/fit-age-calibration.ts collect --model-dir models/default \
 *      --photos var/aaf150/test.csv,../shared/data/aaf/faces --out var/agecal/aaf-test.json [--limit N] \
 *      [--distributions]
 *
 * 2. fit: the map from one or more collected files (2-fold cross-validated figures per method first, then
 *    the map fitted on all of them), optionally written into a bundle's preprocess.json, and optionally
 *    scored on the per-image answers of bench/accuracy-vs-faceapi.ts --out (raw expectations, so the bench
 *    need not run again to see what a map does there):
 *
 *    npx tsx scripts/fit-age-calibration.ts fit --raw var/agecal/aaf-test.json [--raw ...] \
 *      [--method inverse|isotonic|quantile] [--bins 24] [--score var/bench/before.json] [--write models/default]
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ageCalibrationProblem } from '../src/data/bundle-format.js';
import { readLabelsCsv, type LabelledImage } from '../src/data/labels-csv.js';
import type { AgeCalibration } from '../src/data/preprocess-spec.js';
import { calibrateAge, fitAgeCalibration, type RawAnswer } from '../src/infer/age-calibration.js';
import { readPreprocessSpec } from '../src/infer/bundle.js';
import { Predictor, defaultModelDir } from '../src/infer/predictor.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { BUNDLE_FILES } from '../src/data/bundle-format.js';
import {
  distributionMedian,
  expectation,
  groupTable,
  scoreAges,
  type AgeScores,
} from '../bench/age-scores.js';

const [mode, ...rest] = process.argv.slice(2);
const { values } = parseArgs({
  args: rest,
  options: {
    'model-dir': { type: 'string', default: defaultModelDir() },
    photos: { type: 'string', multiple: true, default: [] },
    crops: { type: 'string', multiple: true, default: [] },
    limit: { type: 'string' },
    out: { type: 'string' },
    raw: { type: 'string', multiple: true, default: [] },
    method: { type: 'string', default: 'inverse' },
    bins: { type: 'string', default: '24' },
    score: { type: 'string' },
    write: { type: 'string' },
    distributions: { type: 'boolean', default: false },
  },
});

interface CollectedImage {
  file: string;
  age: number;
  /** null: no face found (detect path). */
  raw: number | null;
  median: number | null;
  /** With --distributions: the age head's softmax (5 decimals), for trying other readouts. */
  p?: number[];
}
interface CollectedSet {
  name: string;
  detect: boolean;
  images: CollectedImage[];
}

/** Evenly spread, deterministic subsample (every (n / limit)-th row). */
const spread = <T>(rows: T[], limit: number): T[] =>
  rows.length <= limit
    ? rows
    : Array.from({ length: limit }, (_, i) => rows[Math.floor((i * rows.length) / limit)]!);

async function collect(): Promise<void> {
  if (!values.out) throw new Error('collect: --out FILE is required');
  const limit = values.limit ? Number(values.limit) : Infinity;
  const predictor = await Predictor.load({ modelDir: values['model-dir'] });
  const min = predictor.spec.age.min;
  const sets: CollectedSet[] = [];
  const jobs = [
    ...values.photos!.map((s) => ({ s, detect: true })),
    ...values.crops!.map((s) => ({ s, detect: false })),
  ];
  for (const { s, detect } of jobs) {
    const [csv, dir] = s.split(',');
    if (!csv || !dir) throw new Error(`"${s}": expected CSV,DIR`);
    const rows: LabelledImage[] = spread(await readLabelsCsv(csv), limit);
    const images: CollectedImage[] = [];
    for (const [i, r] of rows.entries()) {
      const [settled] = await predictor.predictSettled([path.join(dir, r.filename)], {
        detect,
        ageDistribution: true,
      });
      const face = settled?.ok
        ? settled.faces.reduce<(typeof settled.faces)[number] | null>(
            (a, b) => (!a || b.score > a.score ? b : a),
            null,
          )
        : null;
      const p = face?.ageDistribution;
      images.push({
        file: r.filename,
        age: r.age,
        raw: p ? Number(expectation(p, min).toFixed(3)) : null,
        median: p ? Number(distributionMedian(p, min).toFixed(3)) : null,
        ...(p && values.distributions ? { p: Array.from(p, (v) => Number(v.toFixed(5))) } : {}),
      });
      if ((i + 1) % 100 === 0) process.stderr.write(`${csv}: ${i + 1}/${rows.length}\n`);
    }
    sets.push({ name: `${csv}${detect ? ' (detect path)' : ' (crops)'}`, detect, images });
  }
  await predictor.dispose();
  await fs.mkdir(path.dirname(values.out), { recursive: true });
  await writeFileAtomic(
    values.out,
    JSON.stringify({ modelDir: predictor.modelDir, limit: values.limit ?? null, sets }) + '\n',
  );
  for (const set of sets) {
    const s = scoreAges(
      set.images.map((m) => m.age),
      set.images.map((m) => m.raw),
    );
    console.log(`${set.name}: ${s.found}/${s.n} faces, raw MAE ${s.mae}, age groups ${s.ageGroup}`);
  }
}

type Method = 'isotonic' | 'inverse' | 'quantile';
const METHODS: Method[] = ['isotonic', 'inverse', 'quantile'];

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const worstBias = (s: AgeScores) =>
  Math.max(...Object.values(s.byGroup).map((g) => (g.bias == null ? 0 : Math.abs(g.bias))));
const summary = (s: AgeScores) =>
  `age groups ${pct(s.ageGroup)} (mean of groups ${pct(s.balanced)}), MAE ${s.mae.toFixed(2)}, worst group bias ${worstBias(s).toFixed(2)}`;

function applyMap(answers: (number | null)[], map: AgeCalibration | null): (number | null)[] {
  return answers.map((r) => (r == null ? null : map ? calibrateAge(r, map) : r));
}

async function fit(): Promise<void> {
  if (values.raw!.length === 0) throw new Error('fit: give at least one --raw FILE (made by collect)');
  const method = values.method as Method;
  if (!METHODS.includes(method)) throw new Error(`--method: expected one of ${METHODS.join(', ')}`);
  const bins = Number(values.bins);
  const labelled: RawAnswer[] = [];
  const medians: RawAnswer[] = [];
  for (const file of values.raw!) {
    const json = JSON.parse(await fs.readFile(file, 'utf8')) as { sets: CollectedSet[] };
    for (const set of json.sets) {
      const found = set.images.filter((m) => m.raw != null);
      console.log(`${file}: ${set.name}, ${found.length} faces`);
      for (const m of found) {
        labelled.push({ raw: m.raw!, age: m.age });
        medians.push({ raw: m.median!, age: m.age });
      }
    }
  }
  // 2-fold cross-validation on the fitting data: each half scored by a map fitted on the other half.
  const ages = labelled.map((a) => a.age);
  console.log(`\nFitting data, ${labelled.length} faces, 2-fold cross-validated:`);
  console.log(
    `  raw expectation: ${summary(
      scoreAges(
        ages,
        labelled.map((a) => a.raw),
      ),
    )}`,
  );
  console.log(
    `  raw median:      ${summary(
      scoreAges(
        ages,
        medians.map((a) => a.raw),
      ),
    )}`,
  );
  let chosen: AgeScores | null = null;
  for (const m of METHODS) {
    for (const [name, data] of [
      ['expectation', labelled],
      ['median', medians],
    ] as const) {
      const predicted = new Array<number>(data.length);
      for (const fold of [0, 1]) {
        const map = fitAgeCalibration(
          data.filter((_, i) => i % 2 !== fold),
          m,
          bins,
        );
        data.forEach((a, i) => {
          if (i % 2 === fold) predicted[i] = calibrateAge(a.raw, map);
        });
      }
      const scores = scoreAges(ages, predicted);
      console.log(`  ${m} on the ${name}: ${summary(scores)}`);
      if (m === method && name === 'expectation') chosen = scores;
    }
  }
  console.log(`\nPer age group, raw expectation / ${method} map (cross-validated):\n`);
  console.log(
    groupTable({
      raw: scoreAges(
        ages,
        labelled.map((a) => a.raw),
      ),
      [method]: chosen!,
    }).join('\n'),
  );
  const map: AgeCalibration = fitAgeCalibration(labelled, method, bins);
  const problem = ageCalibrationProblem(map);
  if (problem) throw new Error(`the fitted map is not usable: ${problem}`);
  console.log(`\n${method} map on all ${labelled.length} faces (${map.from.length} knots):`);
  console.log(JSON.stringify(map));

  if (values.score) {
    const bench = JSON.parse(await fs.readFile(values.score, 'utf8')) as {
      results: Record<
        string,
        {
          images: {
            age: number;
            agegender: { raw: number; median: number } | null;
            faceapi: { age: number } | null;
          }[];
        }
      >;
    };
    for (const [name, r] of Object.entries(bench.results)) {
      const truth = r.images.map((m) => m.age);
      const raw = r.images.map((m) => m.agegender?.raw ?? null);
      const cols = {
        raw: scoreAges(truth, raw),
        median: scoreAges(
          truth,
          r.images.map((m) => m.agegender?.median ?? null),
        ),
        calibrated: scoreAges(truth, applyMap(raw, map)),
        'face-api': scoreAges(
          truth,
          r.images.map((m) => m.faceapi?.age ?? null),
        ),
      };
      console.log(
        `\n### ${name}: ${truth.length} images (agegender raw expectation / raw median / calibrated / face-api)\n`,
      );
      console.log(groupTable(cols).join('\n'));
    }
  }

  if (values.write) {
    const spec = await readPreprocessSpec(values.write);
    const fittedOn =
      `${method} fit (scripts/fit-age-calibration.ts, ${bins} quantile knots) on ${labelled.length} faces: ` +
      values.raw!.map((f) => path.basename(f)).join(', ');
    const next = { ...spec, ageCalibration: { ...map, fittedOn } };
    await writeFileAtomic(
      path.join(values.write, BUNDLE_FILES.preprocess),
      JSON.stringify(next, null, 2) + '\n',
    );
    console.log(`\nwrote ageCalibration into ${path.join(values.write, BUNDLE_FILES.preprocess)}`);
  }
}

if (mode === 'collect') await collect();
else if (mode === 'fit') await fit();
else {
  console.error('usage: fit-age-calibration.ts collect|fit [options] (see the comment at the top)');
  process.exit(2);
}
