import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TrainStream, imagePath } from '../data/dataset-stream.js';
import { type LabelledImage, readLabelsCsv } from '../data/labels-csv.js';
import { type PreprocessSpec, defaultPreprocessSpec } from '../data/preprocess-spec.js';
import { createAdam } from '../engine/adam.js';
import { DEFAULT_LR, buildModel } from '../model/index.js';
import type { EvalReport } from '../model/metrics.js';
import { writeFileAtomic } from '../util/atomic.js';
import { exists } from '../util/exists.js';
import { withFolderLock } from '../util/folder-lock.js';
import { skipLog } from '../util/skip-log.js';
import { makeDir } from '../util/make-dir.js';
import { UserError } from '../util/errors.js';
import { checkFits, setupBackend } from './backend-setup.js';
import { type RunState, latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { evaluateModel } from './evaluate.js';
import type { TrainSettings } from './scratch-options.js';
import { type Callback, fit, throwIfStopped } from './fit.js';
import { type MetricsLine, writeLearningCurve } from './plot.js';
import { learningRateAt } from './schedule.js';
import { exportServing } from './serving-export.js';

/**
 * Training a network from scratch on a labels CSV (filename,age,gender), or, with `resume`, continuing
 * such a run: evaluates the whole validation set every `evalEvery` steps (metrics.jsonl +
 * learning-curve.svg/png), checkpoints every `checkpointEvery` steps and when the signal stops it, and
 * exports a serving bundle at the end.
 */

export interface TrainResult {
  servingDir: string;
  checkpointDir: string;
  steps: number;
  epochs: number;
  wallSeconds: number;
  imagesPerSecond: number;
  skipped: number;
  validation: EvalReport;
}

export async function train(opts: TrainSettings): Promise<TrainResult> {
  throwIfStopped(opts.signal, 'train');
  // One run at a time in a run folder: a second one fails at once, naming the first (util/folder-lock.ts).
  if (!opts.resume) await makeDir(opts.modelDir);
  else if (!(await exists(opts.modelDir)))
    throw new UserError(`${opts.modelDir}: no such run folder to resume (start it without --resume)`);
  return withFolderLock(opts.modelDir, 'agegender train', () => trainInFolder(opts));
}

async function trainInFolder(opts: TrainSettings): Promise<TrainResult> {
  const log = opts.log ?? (opts.json ? () => {} : (l: string) => process.stderr.write(l + '\n'));
  const backend = await setupBackend(opts.backend, opts.threads, opts.precision);
  const { run, resumed } = await startRun(opts);
  const [trainRows, valRows] = await Promise.all([readLabelsCsv(run.trainCsv), readLabelsCsv(run.valCsv)]);
  await requireSomeImages(run.valCsv, valRows, run.imgDir);
  const stepsPerEpoch = Math.ceil(trainRows.length / run.batchSize);
  const steps = opts.given.has('numSteps') ? opts.numSteps : Math.ceil(opts.epochs * stepsPerEpoch);
  if (!resumed) run.totalSteps = steps!;
  else if (opts.given.has('numSteps') || opts.given.has('epochs')) {
    const flag = opts.given.has('numSteps') ? `--num-steps ${opts.numSteps}` : `--epochs ${opts.epochs}`;
    if (steps! <= run.step)
      throw new UserError(
        `${flag}: the run in ${opts.modelDir} is already at step ${run.step} ` +
          `(${resumed.dir}); give more steps, or export it as it is with \`agegender export\``,
      );
    run.totalSteps = steps!;
  }
  if (!(run.totalSteps > 0)) throw new UserError('--num-steps / --epochs must give at least one step');

  const spec: PreprocessSpec = resumed?.spec ?? defaultPreprocessSpec(run.imageSize);
  const model = buildModel(run.arch, { imageSize: run.imageSize, seed: run.seed });
  checkFits(model, run.batchSize, run.imageSize);
  const optimizer = createAdam(run.lr);
  if (resumed) {
    model.setWeights(resumed.weights);
    await optimizer.setWeights(resumed.optimizer);
    tf.dispose(resumed.weights);
  }
  const lrAt = (step: number) =>
    learningRateAt(step, run.totalSteps, run.lr, { warmup: run.warmup, schedule: run.schedule });
  const metricsPath = path.join(opts.modelDir, 'metrics.jsonl');
  const history = await readMetrics(metricsPath, run.step);
  await writeFileAtomic(metricsPath, history.map((l) => JSON.stringify(l) + '\n').join(''));

  log(
    `train: ${run.arch} ${run.imageSize}x${run.imageSize}, ${(model.countParams() / 1e6).toFixed(2)}M params, ` +
      `${backend}; ${trainRows.length} train / ${valRows.length} val images; ${run.totalSteps} steps of ` +
      `${run.batchSize} (${(run.totalSteps / stepsPerEpoch).toFixed(1)} epochs)` +
      (resumed ? `; resumed at step ${run.step} from ${resumed.dir}` : ''),
  );
  if (resumed?.skipped) log(`${resumed.skipped.reason}; resumed from the checkpoint before it`);
  const skips = skipLog(log);
  const onSkip = skips.skip;
  const stream = new TrainStream(
    trainRows,
    { imgDir: run.imgDir, spec, batchSize: run.batchSize, augment: run.augment, seed: run.seed, onSkip },
    run.stream,
  );
  const checkpoint = () => {
    run.stream = stream.state;
    run.savedAt = new Date().toISOString();
    return saveCheckpoint(opts.modelDir, model, optimizer, run, spec);
  };

  const startStep = run.step;
  let stepStart = Date.now();
  let savedAt = -1;
  const imgPerSec = () => ((run.step - startStep) * run.batchSize) / Math.max(run.trainSeconds, 1e-3);
  // Mean training loss since the last eval: what metrics.jsonl reports as trainLoss.
  let intervalLoss = 0;
  let intervalSteps = 0;
  const bookkeeping: Callback = {
    onStep: (step, loss) => {
      run.step = step;
      run.smoothLoss = Number.isFinite(run.smoothLoss) ? 0.95 * run.smoothLoss + 0.05 * loss : loss;
      intervalLoss += loss;
      intervalSteps++;
      run.trainSeconds += (Date.now() - stepStart) / 1000;
    },
  };
  const evaluation: Callback = {
    onStep: async (step) => {
      if (step % run.evalEvery! !== 0 && step !== run.totalSteps) return;
      const t0 = Date.now();
      run.lastEval = await evaluateModel(model, valRows, { imgDir: run.imgDir, spec, batchSize: 64, onSkip });
      if (run.lastEval.n === 0)
        throw new UserError(
          `${run.valCsv}: none of its ${valRows.length} images could be read from ${run.imgDir}, ` +
            'so the model cannot be validated (see the "skipped" lines above)',
        );
      run.evalSeconds += (Date.now() - t0) / 1000;
      const line = metricsLine(
        run,
        intervalLoss / intervalSteps,
        stepsPerEpoch,
        lrAt(step - 1),
        imgPerSec(),
        stream.skipped,
      );
      [intervalLoss, intervalSteps] = [0, 0];
      history.push(line);
      await fs.appendFile(metricsPath, JSON.stringify(line) + '\n');
      await writeLearningCurve(opts.modelDir, history);
      log(
        `\nstep ${step}: val MAE ${line.mae} CS@5 ${line.cs5} gender ${line.genderAcc} ` +
          `loss ${line.valLoss} (train ${line.trainLoss})`,
      );
    },
  };
  const checkpoints: Callback = {
    onStep: async (step) => {
      if (run.checkpointEvery && step % run.checkpointEvery === 0) {
        await checkpoint();
        savedAt = step;
      }
      stepStart = Date.now();
    },
    onStop: async (step) => {
      log(`\nstopped at step ${step}: saving a checkpoint`);
      if (savedAt !== step) await checkpoint();
      return 'checkpoint saved, continue with --resume';
    },
  };
  await fit({
    phase: 'train',
    model,
    optimizer,
    next: async () => ({ ...(await stream.next()), shape: [run.imageSize, run.imageSize, 3] }),
    steps: run.totalSteps,
    startStep,
    stepsPerEpoch,
    lr: lrAt,
    ageSigma: run.ageSigma,
    signal: opts.signal,
    json: opts.json,
    fields: () => ({ loss: run.smoothLoss.toFixed(3), 'img/s': imgPerSec().toFixed(1) }),
    callbacks: [bookkeeping, evaluation, ...(opts.onStep ? [{ onStep: opts.onStep }] : []), checkpoints],
  });
  skips.finish();
  const checkpointDir = await checkpoint();
  const servingDir = await exportServing(model, opts.modelDir, spec, run);
  log(`exported ${servingDir}`);
  return {
    servingDir,
    checkpointDir,
    steps: run.step,
    epochs: run.step / stepsPerEpoch,
    wallSeconds: run.trainSeconds + run.evalSeconds,
    imagesPerSecond: imgPerSec(),
    skipped: stream.skipped,
    validation: run.lastEval!,
  };
}

/** The settings a run is made of: a resumed run keeps them (the option name, and its name in RunState). */
const RUN_SETTINGS = [
  ['arch', 'arch'],
  ['imgSize', 'imageSize'],
  ['batchSize', 'batchSize'],
  ['lr', 'lr'],
  ['seed', 'seed'],
  ['ageSigma', 'ageSigma'],
  ['augment', 'augment'],
] as const;

/** A fresh run state from the options, or the stored one of the run being resumed. */
async function startRun(opts: TrainSettings) {
  if (opts.resume) {
    const resumed = await loadCheckpoint(opts.modelDir);
    if (!resumed)
      throw new UserError(
        `${opts.modelDir}: no checkpoint to resume from (remove the directory to start over)`,
      );
    const run = resumed.state;
    // A setting given another value than the run's would be silently dropped: refuse it instead.
    for (const [key, field] of RUN_SETTINGS)
      if (opts.given.has(key) && opts[key] !== run[field])
        throw new UserError(
          `--${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} ${String(opts[key])}: the run in ` +
            `${opts.modelDir} was started with ${String(run[field])}, and a resumed run keeps its settings ` +
            '(leave the flag out, or start a new run in another --model-dir)',
        );
    // The data may have moved; the rhythm of evals and checkpoints may change.
    if (opts.imgDir) run.imgDir = path.resolve(opts.imgDir);
    if (opts.trainCsv) run.trainCsv = path.resolve(opts.trainCsv);
    if (opts.valCsv) run.valCsv = path.resolve(opts.valCsv);
    if (opts.given.has('evalEvery') || run.evalEvery === undefined) run.evalEvery = opts.evalEvery;
    if (opts.given.has('checkpointEvery') || run.checkpointEvery === undefined)
      run.checkpointEvery = opts.checkpointEvery;
    return { run, resumed };
  }
  if ((await latestCheckpoint(opts.modelDir)) || (await exists(path.join(opts.modelDir, 'metrics.jsonl'))))
    throw new UserError(
      `${opts.modelDir}: already holds a run; add --resume to continue it, or use another --model-dir`,
    );
  if (!opts.imgDir || !opts.trainCsv || !opts.valCsv)
    throw new UserError('--img-dir, --train-csv and --val-csv are required (except with --resume)');
  const run: RunState = {
    format: 'agegender-checkpoint',
    version: 1,
    step: 0,
    totalSteps: 0,
    stream: { epoch: 0, cursor: 0 },
    arch: opts.arch,
    imageSize: opts.imgSize,
    batchSize: opts.batchSize,
    lr: opts.lr ?? DEFAULT_LR[opts.arch],
    seed: opts.seed,
    ageSigma: opts.ageSigma,
    augment: opts.augment,
    evalEvery: opts.evalEvery,
    checkpointEvery: opts.checkpointEvery,
    imgDir: path.resolve(opts.imgDir),
    trainCsv: path.resolve(opts.trainCsv),
    valCsv: path.resolve(opts.valCsv),
    smoothLoss: NaN,
    trainSeconds: 0,
    evalSeconds: 0,
    lastEval: null,
    savedAt: '',
  };
  return { run, resumed: null };
}

/**
 * Fails before any training when not one validation image exists: every eval would score nothing and
 * report MAE NaN, and the run would end with a bundle that was never validated.
 */
async function requireSomeImages(csv: string, rows: LabelledImage[], imgDir: string): Promise<void> {
  for (const r of rows) if (await exists(imagePath(imgDir, r.filename))) return;
  throw new UserError(
    `${csv}: none of its ${rows.length} images exist under ${imgDir} (first: ${imagePath(imgDir, rows[0]!.filename)}); ` +
      'check --img-dir',
  );
}

function metricsLine(
  run: RunState,
  trainLoss: number,
  stepsPerEpoch: number,
  lr: number,
  imgPerSec: number,
  skipped: number,
) {
  const e = run.lastEval!;
  return {
    step: run.step,
    epoch: +(run.step / stepsPerEpoch).toFixed(3),
    time: +(run.trainSeconds + run.evalSeconds).toFixed(1),
    lr: +lr.toExponential(3),
    trainLoss: +trainLoss.toFixed(4),
    valLoss: +e.loss.toFixed(4),
    mae: +e.mae.toFixed(3),
    cs5: +e.cs5.toFixed(4),
    genderAcc: +e.genderAcc.toFixed(4),
    valImages: e.n,
    skipped: skipped + e.skipped,
    imgPerSec: +imgPerSec.toFixed(1),
  };
}

/** metrics.jsonl lines up to `step` (later ones belong to steps a resumed run will redo; torn lines dropped). */
async function readMetrics(file: string, step: number): Promise<MetricsLine[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const out: MetricsLine[] = [];
  for (const line of text.split('\n')) {
    try {
      const m = JSON.parse(line) as MetricsLine;
      if (m.step <= step) out.push(m);
    } catch {
      /* empty or torn line */
    }
  }
  return out;
}
