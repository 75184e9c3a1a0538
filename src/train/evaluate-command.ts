import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readLabelsCsv } from '../data/labels-csv.js';
import { isBundle, loadBundle } from '../infer/bundle.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import { buildModel } from '../model/index.js';
import { UserError } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { type BackendChoice, setupBackend } from './backend-setup.js';
import { loadCheckpoint } from './checkpoint.js';
import { type EvalReport, evaluateModel } from './evaluate.js';

export interface EvaluateOptions {
  /** A serving bundle, or a run directory (its newest serving bundle, else its latest checkpoint). */
  modelDir: string;
  csv: string;
  imgDir: string;
  batchSize?: number;
  backend?: BackendChoice;
  json?: boolean;
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

/** Scores a model on a seed-schema CSV: overall MAE / CS@5 / gender accuracy and a table by age band x gender. */
export async function evaluateCommand(opts: EvaluateOptions): Promise<EvaluateResult> {
  await setupBackend(opts.backend ?? 'auto');
  const rows = await readLabelsCsv(opts.csv);
  const { model, spec, source } = await loadForEval(opts.modelDir);
  const progress = createProgress({ unit: 'images', total: rows.length, json: opts.json });
  const report = await evaluateModel(model, rows, {
    imgDir: opts.imgDir,
    spec,
    batchSize: opts.batchSize ?? 64,
    byBand: true,
    onSkip: opts.json ? undefined : (file, why) => process.stderr.write(`skipped ${file}: ${why}\n`),
    onBatch: (n) => progress.tick(n),
  });
  progress.stop();
  model.dispose();
  if (report.n === 0)
    throw new UserError(
      `${opts.csv}: none of its ${rows.length} images could be read from ${opts.imgDir}; nothing was scored (check --img-dir)`,
    );
  return { model: source, csv: opts.csv, ...report };
}

/** The human-readable report: headline figures, then one row per age band and gender. */
export function formatEvaluation(r: EvaluateResult): string {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const lines = [
    `model ${r.model}`,
    `${r.n} images scored${r.skipped ? `, ${r.skipped} skipped (missing or unreadable)` : ''}`,
    `age MAE ${r.mae.toFixed(2)} years | CS@5 ${pct(r.cs5)} | gender accuracy ${pct(r.genderAcc)}`,
    '',
    `${'age'.padEnd(6)} ${'gender'.padEnd(7)} ${'n'.padStart(6)} ${'MAE'.padStart(6)} ${'CS@5'.padStart(7)} ${'gender acc'.padStart(10)}`,
  ];
  for (const b of r.bands ?? []) {
    lines.push(
      `${b.band.padEnd(6)} ${b.gender.padEnd(7)} ${String(b.n).padStart(6)} ${b.mae.toFixed(2).padStart(6)} ` +
        `${pct(b.cs5).padStart(7)} ${pct(b.genderAcc).padStart(10)}`,
    );
  }
  return lines.join('\n');
}
