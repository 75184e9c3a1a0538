/**
 * Accuracy side by side with @vladmandic/face-api's age/gender net (the JS peer), on the same images, in
 * one process on the same tfjs + wasm engine:
 *  - UTKFace test split, crops as they are (no detection): `Predictor` with detect: false vs face-api's
 *    ageGenderNet.predictAgeAndGender on the same crop;
 *  - AAF validation split through the detect path, from the original photos: each system finds its own
 *    faces (ours: predict's detector pass + crop rule; face-api: detectAllFaces(SSD MobileNetV1, the same
 *    min confidence 0.4).withAgeAndGender()); the best-scoring face counts, and a photo without one counts
 *    as wrong for gender and age group (MAE is over the photos a face was found in, with the count).
 * Reports age MAE, CS@5, gender accuracy, age-group accuracy, and per age group (0-2, 3-9, 10-19, ...,
 * 60-69, 70+; bench/age-scores.ts) accuracy, MAE and the mean signed error (predicted - true), for both, as
 * markdown tables. With --out, the same as JSON plus every image's answers: ours also read as the median of
 * the age distribution beside the DEX expectation, so other readouts can be scored without running the models
 * again.
 *
 *   npm run build && npx tsx bench/accuracy-vs-faceapi.ts \
 *     --utk-csv var/utk150/test.csv --utk-dir var/utk150/crop \
 *     --aaf-csv var/aaf150/val.csv --aaf-photos ../shared/data/aaf/faces [--model-dir models/default] \
 *     [--limit N] [--out var/bench/accuracy.json]
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { decodeRgb } from '../src/data/image.js';
import { readLabelsCsv, type LabelledImage } from '../src/data/labels-csv.js';
import { parseUtkfaceName } from '../src/data/datasets/utkface.js';
import { Predictor, defaultModelDir } from '../src/infer/predictor.js';
import { distributionMedian, expectation, groupTable, scoreAges, type AgeScores } from './age-scores.js';

const { values } = parseArgs({
  options: {
    'utk-csv': { type: 'string' },
    'utk-dir': { type: 'string' },
    'aaf-csv': { type: 'string' },
    'aaf-photos': { type: 'string' },
    'model-dir': { type: 'string' },
    limit: { type: 'string' },
    out: { type: 'string' },
  },
});
const limit = values.limit ? Number(values.limit) : Infinity;

const BANDS = ['0-9', '10-19', '20-29', '30-39', '40-49', '50-59', '60-69', '70+'] as const;
const band = (age: number) => Math.min(7, Math.floor(age / 10));

interface Answer {
  age: number;
  male: boolean;
  /** Ours only: the raw DEX expectation and the distribution's median . */
  raw?: number;
  median?: number;
}

/** One image's truth and both systems' answers (null: no face found), as written with --out. */
interface ImageRecord {
  file: string;
  age: number;
  gender: number;
  agegender: Answer | null;
  faceapi: Answer | null;
}

interface Scores {
  n: number;
  found: number;
  mae: number;
  cs5: number;
  gender: number;
  /** Age-group accuracy, MAE and mean signed error, overall and per age group. */
  ages: AgeScores;
  maeByBand: Record<string, number | null>;
  /** UTKFace file names carry race (0 white, 1 black, 2 asian, 3 indian, 4 others): MAE / gender by race. */
  byRace?: Record<string, { n: number; mae: number; gender: number }>;
  /** Gender accuracy per age band (misses wrong): children's faces are where gender is hard. */
  genderAccByBand: Record<string, number | null>;
  /** Gender accuracy among women / among men (misses wrong). */
  genderAccBySex: { female: number; male: number };
}

const RACES = ['white', 'black', 'asian', 'indian', 'others'];

function score(rows: LabelledImage[], answers: (Answer | null)[]): Scores {
  let found = 0;
  let abs = 0;
  let within5 = 0;
  let genderRight = 0;
  const bandAbs = new Array(BANDS.length).fill(0);
  const bandN = new Array(BANDS.length).fill(0);
  const bandRows = new Array(BANDS.length).fill(0);
  const bandGenderRight = new Array(BANDS.length).fill(0);
  rows.forEach((r, i) => {
    const a = answers[i];
    bandRows[band(r.age)]++;
    if (!a) return;
    if ((a.male ? 1 : 0) === r.gender) bandGenderRight[band(r.age)]++;
    found++;
    const err = Math.abs(a.age - r.age);
    abs += err;
    if (err <= 5) within5++;
    if ((a.male ? 1 : 0) === r.gender) genderRight++;
    bandAbs[band(r.age)] += err;
    bandN[band(r.age)]++;
  });
  const r3 = (v: number) => Number(v.toFixed(3));
  const race = (f: string) => {
    const p = parseUtkfaceName(path.basename(f));
    return p.ok ? RACES[p.race] : undefined;
  };
  const raceAcc = new Map<string, { n: number; abs: number; right: number }>();
  const sexAcc = [
    { n: 0, right: 0 },
    { n: 0, right: 0 },
  ];
  rows.forEach((r, i) => {
    const a = answers[i];
    sexAcc[r.gender]!.n++;
    if (a && (a.male ? 1 : 0) === r.gender) sexAcc[r.gender]!.right++;
    const k = race(r.filename);
    if (!k || !a) return;
    const c = raceAcc.get(k) ?? { n: 0, abs: 0, right: 0 };
    c.n++;
    c.abs += Math.abs(a.age - r.age);
    if ((a.male ? 1 : 0) === r.gender) c.right++;
    raceAcc.set(k, c);
  });
  return {
    byRace: raceAcc.size
      ? Object.fromEntries(
          RACES.filter((k) => raceAcc.has(k)).map((k) => {
            const c = raceAcc.get(k)!;
            return [k, { n: c.n, mae: r3(c.abs / c.n), gender: r3(c.right / c.n) }];
          }),
        )
      : undefined,
    genderAccBySex: {
      female: r3(sexAcc[0]!.right / Math.max(1, sexAcc[0]!.n)),
      male: r3(sexAcc[1]!.right / Math.max(1, sexAcc[1]!.n)),
    },
    n: rows.length,
    found,
    mae: r3(abs / Math.max(found, 1)),
    cs5: r3(within5 / Math.max(found, 1)),
    gender: r3(genderRight / rows.length),
    ages: scoreAges(
      rows.map((r) => r.age),
      answers.map((a) => a?.age ?? null),
    ),
    maeByBand: Object.fromEntries(BANDS.map((b, k) => [b, bandN[k] ? r3(bandAbs[k] / bandN[k]) : null])),
    genderAccByBand: Object.fromEntries(
      BANDS.map((b, k) => [b, bandRows[k] ? r3(bandGenderRight[k] / bandRows[k]) : null]),
    ),
  };
}

const spread = <T>(rows: T[]): T[] => {
  if (rows.length <= limit) return rows;
  const step = rows.length / limit;
  return Array.from({ length: limit }, (_, i) => rows[Math.floor(i * step)]!);
};

const predictor = await Predictor.load({ modelDir: values['model-dir'] ?? defaultModelDir() });
const require = createRequire(import.meta.url);
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const faceapiModels = path.dirname(
  require.resolve('@vladmandic/face-api/model/ssd_mobilenetv1_model-weights_manifest.json'),
);
await faceapi.nets.ssdMobilenetv1.loadFromDisk(faceapiModels);
await faceapi.nets.ageGenderNet.loadFromDisk(faceapiModels);
const ssdOptions = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.4 });

const toTensor = async (file: string) => {
  const img = await decodeRgb(file);
  return tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
};
const best = <T extends { score: number }>(list: T[]) =>
  list.reduce<T | null>((a, b) => (!a || b.score > a.score ? b : a), null);

interface SetResult {
  rows: number;
  agegender: Scores;
  faceapi: Scores;
  /** Our ages read as the raw expectation and as the median . */
  agegenderRaw: { expectation: AgeScores; median: AgeScores };
  seconds: Record<string, number>;
  images: ImageRecord[];
}
const results: Record<string, SetResult> = {};

async function run(
  name: string,
  rows: LabelledImage[],
  fileOf: (r: LabelledImage) => string,
  detect: boolean,
): Promise<void> {
  const ours: (Answer | null)[] = [];
  const peer: (Answer | null)[] = [];
  let tOurs = 0;
  let tPeer = 0;
  for (const [i, r] of rows.entries()) {
    const file = fileOf(r);
    let t = performance.now();
    const [settled] = await predictor.predictSettled([file], { detect, ageDistribution: true });
    const face = settled?.ok ? best(settled.faces) : null;
    const min = predictor.spec.age.min;
    ours.push(
      face
        ? {
            age: face.age,
            male: face.gender === 'M',
            raw: Number(expectation(face.ageDistribution!, min).toFixed(3)),
            median: Number(distributionMedian(face.ageDistribution!, min).toFixed(3)),
          }
        : null,
    );
    tOurs += performance.now() - t;
    t = performance.now();
    const input = await toTensor(file);
    try {
      if (detect) {
        const found = await faceapi.detectAllFaces(input, ssdOptions).withAgeAndGender();
        const f = best(
          found.map((d: { detection: { score: number } }) => ({ ...d, score: d.detection.score })),
        ) as { age: number; gender: string } | null;
        peer.push(f ? { age: f.age, male: f.gender === 'male' } : null);
      } else {
        const p = (await faceapi.nets.ageGenderNet.predictAgeAndGender(input)) as {
          age: number;
          gender: string;
        };
        peer.push({ age: p.age, male: p.gender === 'male' });
      }
    } finally {
      input.dispose();
    }
    tPeer += performance.now() - t;
    if ((i + 1) % 100 === 0) process.stderr.write(`${name}: ${i + 1}/${rows.length}\n`);
  }
  const trueAges = rows.map((r) => r.age);
  results[name] = {
    rows: rows.length,
    agegender: score(rows, ours),
    faceapi: score(rows, peer),
    agegenderRaw: {
      expectation: scoreAges(
        trueAges,
        ours.map((a) => a?.raw ?? null),
      ),
      median: scoreAges(
        trueAges,
        ours.map((a) => a?.median ?? null),
      ),
    },
    seconds: { agegender: Math.round(tOurs / 100) / 10, faceapi: Math.round(tPeer / 100) / 10 },
    images: rows.map((r, i) => ({
      file: r.filename,
      age: r.age,
      gender: r.gender,
      agegender: ours[i]!,
      faceapi: peer[i]!,
    })),
  };
}

/** The split a CSV holds, by its name (test.csv -> 'test'), for the tables' titles. */
const part = (csv: string) => path.basename(csv, '.csv');

if (values['utk-csv'] && values['utk-dir']) {
  const rows = spread(await readLabelsCsv(values['utk-csv']));
  await run(
    `UTKFace ${part(values['utk-csv'])}, crops (no detection)`,
    rows,
    (r) => path.join(values['utk-dir']!, r.filename),
    false,
  );
}
if (values['aaf-csv'] && values['aaf-photos']) {
  const rows = spread(await readLabelsCsv(values['aaf-csv']));
  await run(
    `AAF ${part(values['aaf-csv'])}, photos (detect path)`,
    rows,
    (r) => path.join(values['aaf-photos']!, r.filename),
    true,
  );
}

const pct = (v: number | null | undefined) => (v == null ? '-' : `${(v * 100).toFixed(1)}%`);
const yrs = (v: number | null | undefined) => (v == null ? '-' : v.toFixed(2));
const lines: string[] = [];
for (const [name, r] of Object.entries(results)) {
  lines.push(`\n### ${name}: ${r.rows} images`);
  lines.push('| metric | agegender | face-api |', '|---|---|---|');
  const a = r.agegender;
  const f = r.faceapi;
  lines.push(`| faces found | ${a.found}/${a.n} | ${f.found}/${f.n} |`);
  lines.push(`| age MAE (found) | ${a.mae.toFixed(2)} | ${f.mae.toFixed(2)} |`);
  lines.push(`| CS@5 (found) | ${pct(a.cs5)} | ${pct(f.cs5)} |`);
  lines.push(`| gender accuracy (misses wrong) | ${pct(a.gender)} | ${pct(f.gender)} |`);
  lines.push(`| age-group accuracy (misses wrong) | ${pct(a.ages.ageGroup)} | ${pct(f.ages.ageGroup)} |`);
  for (const b of BANDS)
    if (a.maeByBand[b] != null || f.maeByBand[b] != null)
      lines.push(`| MAE, ages ${b} | ${yrs(a.maeByBand[b])} | ${yrs(f.maeByBand[b])} |`);
  for (const b of BANDS)
    if (a.genderAccByBand[b] != null)
      lines.push(
        `| gender accuracy, ages ${b} | ${pct(a.genderAccByBand[b])} | ${pct(f.genderAccByBand[b])} |`,
      );
  lines.push(
    `| gender accuracy, women | ${pct(a.genderAccBySex.female)} | ${pct(f.genderAccBySex.female)} |`,
  );
  lines.push(`| gender accuracy, men | ${pct(a.genderAccBySex.male)} | ${pct(f.genderAccBySex.male)} |`);
  for (const [k, v] of Object.entries(a.byRace ?? {})) {
    const w = f.byRace?.[k];
    lines.push(
      `| UTKFace race ${k} (n ${v.n}): MAE / gender | ${v.mae.toFixed(2)} / ${pct(v.gender)} | ${w ? `${w.mae.toFixed(2)} / ${pct(w.gender)}` : '-'} |`,
    );
  }
  lines.push(`| seconds (whole set) | ${r.seconds.agegender} | ${r.seconds.faceapi} |`);
  lines.push(
    '',
    `Per age group (agegender / face-api; accuracy counts misses wrong, MAE and bias over faces found):`,
  );
  lines.push('', ...groupTable({ agegender: a.ages, 'face-api': f.ages }));
  const raw = r.agegenderRaw;
  lines.push(
    '',
    `Our readouts, expectation / median: age groups ` +
      `${pct(raw.expectation.ageGroup)} / ${pct(raw.median.ageGroup)}, MAE ${raw.expectation.mae.toFixed(2)} / ` +
      `${raw.median.mae.toFixed(2)}, mean signed error ${raw.expectation.bias.toFixed(2)} / ${raw.median.bias.toFixed(2)}`,
  );
}
console.log(lines.join('\n'));
if (values.out) {
  await fs.mkdir(path.dirname(values.out), { recursive: true });
  await fs.writeFile(values.out, JSON.stringify({ modelDir: predictor.modelDir, results }, null, 2) + '\n');
}
