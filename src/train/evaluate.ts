import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { evalBatches } from '../data/dataset-stream.js';
import { type LabelledImage, readLabelsCsv } from '../data/labels-csv.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import { isBundle, loadBundle } from '../infer/bundle.js';
import { buildModel } from '../model/index.js';
import { AGE_CLASSES, ageTargets, genderTargets, jointLoss } from '../model/losses.js';
import {
  AGE_BANDS,
  type EvalReport,
  MetricsAccumulator,
  ageBand,
  expectedAge,
  maleProbability,
} from '../model/metrics.js';
import { ModelError, UserError } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { skipLog } from '../util/skip-log.js';
import { setupBackend } from './backend-setup.js';
import { loadCheckpoint } from './checkpoint.js';
import type { EvaluateSettings } from './evaluate-options.js';

/**
 * Scores a model on every readable row of `rows` (one pass, file order, no augmentation): the DEX
 * expected age against the true age, P(male) >= 0.5 against the true gender, and the joint loss.
 */
export async function evaluateModel(
  model: tf.LayersModel,
  rows: LabelledImage[],
  opts: {
    imgDir: string;
    spec: PreprocessSpec;
    batchSize: number;
    byBand?: boolean;
    onSkip?: (file: string, why: string) => void;
    onBatch?: (n: number) => void;
  },
): Promise<EvalReport> {
  const all = new MetricsAccumulator();
  const cells = new Map<string, MetricsAccumulator>();
  const cell = (key: string) => {
    let acc = cells.get(key);
    if (!acc) cells.set(key, (acc = new MetricsAccumulator()));
    return acc;
  };
  let lossSum = 0;
  let skipped = 0;
  const size = opts.spec.imageSize;
  for await (const batch of evalBatches(rows, {
    imgDir: opts.imgDir,
    spec: opts.spec,
    batchSize: opts.batchSize,
    onSkip: (file, why) => {
      skipped++;
      opts.onSkip?.(file, why);
    },
  })) {
    const n = batch.size;
    const [ages, pMale, loss] = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [n, size, size, 3]);
      const [a, g] = model.predict(x) as tf.Tensor2D[];
      const l = jointLoss(
        a!,
        g!,
        tf.tensor2d(ageTargets(batch.ages), [n, AGE_CLASSES]),
        tf.tensor2d(genderTargets(batch.genders), [n, 2]),
      );
      return [expectedAge(a!).dataSync(), maleProbability(g!).dataSync(), l.dataSync()[0]!] as const;
    });
    lossSum += loss * n;
    all.add(ages, pMale, batch.ages, batch.genders);
    if (opts.byBand) {
      for (let i = 0; i < n; i++) {
        const band = ageBand(batch.ages[i]!);
        const gender = batch.genders[i] === 1 ? 'male' : 'female';
        const one = [ages[i]!];
        const p = [pMale[i]!];
        const ta = [batch.ages[i]!];
        const tg = [batch.genders[i]!];
        for (const key of [`${band}|${gender}`, `${band}|all`, `all|${gender}`])
          cell(key).add(one, p, ta, tg);
      }
    }
    opts.onBatch?.(n);
  }
  const result = all.result();
  const report: EvalReport = { ...result, loss: result.n ? lossSum / result.n : NaN, skipped };
  if (opts.byBand) {
    report.bands = [];
    for (const band of [...AGE_BANDS, 'all'] as const) {
      for (const gender of ['female', 'male', 'all'] as const) {
        const m = band === 'all' && gender === 'all' ? result : cells.get(`${band}|${gender}`)?.result();
        if (m && m.n > 0) report.bands.push({ band, gender, ...m });
      }
    }
  }
  return report;
}

export interface EvaluateResult extends EvalReport {
  model: string;
  csv: string;
}

/** Finds and loads the model a --model-dir names, with its preprocessing. */
async function loadForEval(
  dir: string,
): Promise<{ model: tf.LayersModel; spec: PreprocessSpec; source: string }> {
  let bundle: string | null = (await isBundle(dir)) ? dir : null;
  if (!bundle) {
    const serving = path.join(dir, 'serving');
    const names = (await fs.readdir(serving).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n));
    names.sort((a, b) => Number(b) - Number(a));
    for (const n of names) {
      if (await isBundle(path.join(serving, n))) {
        bundle = path.join(serving, n);
        break;
      }
    }
  }
  if (bundle) {
    // The same checked reading as predict and serve (src/infer/bundle.ts).
    const { model, spec } = await loadBundle(bundle);
    return { model, spec, source: bundle };
  }
  const ckpt = await loadCheckpoint(dir);
  if (!ckpt)
    throw new UserError(
      `${dir}: neither a serving bundle (model.json) nor a run with serving/ or a checkpoint`,
    );
  const model = buildModel(ckpt.state.arch, { imageSize: ckpt.state.imageSize });
  model.setWeights(ckpt.weights);
  // setWeights copies; the checkpoint's own tensors (and its optimizer state) are not needed any more.
  tf.dispose([...ckpt.weights, ...ckpt.optimizer.map((o) => o.tensor)]);
  return { model, spec: ckpt.spec, source: ckpt.dir };
}

/**
 * `evaluate`: scores a model on a seed-schema CSV: overall MAE / CS@5 / gender accuracy and a table by age
 * band x gender.
 */
export async function evaluate(opts: EvaluateSettings): Promise<EvaluateResult> {
  await setupBackend(opts.backend);
  const rows = await readLabelsCsv(opts.csv);
  const { model, spec, source } = await loadForEval(opts.modelDir);
  const progress = createProgress({ unit: 'images', total: rows.length, json: opts.json });
  const skips = skipLog((line) => process.stderr.write(line + '\n'));
  const report = await evaluateModel(model, rows, {
    imgDir: opts.imgDir,
    spec,
    batchSize: opts.batchSize,
    byBand: true,
    onSkip: opts.json ? undefined : skips.skip,
    onBatch: (n) => progress.tick(n),
  });
  progress.stop();
  skips.finish();
  model.dispose();
  if (report.n === 0)
    throw new UserError(
      `${opts.csv}: none of its ${rows.length} images could be read from ${opts.imgDir}; nothing was scored (check --img-dir)`,
    );
  // A model whose outputs are NaN (diverged, damaged weights) has no score: "MAE NaN" is not a result.
  if (!Number.isFinite(report.mae) || !Number.isFinite(report.loss))
    throw new ModelError(`${source}: the model's outputs are not finite numbers (NaN); it cannot be scored`);
  return { model: source, csv: opts.csv, ...report };
}
