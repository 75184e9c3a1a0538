import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TrainStream, imagePath } from '../data/dataset-stream.js';
import { type LabelledImage, readLabelsCsv } from '../data/labels-csv.js';
import { createAdam, setLearningRate } from '../engine/adam.js';
import { type PreprocessSpec, defaultPreprocessSpec } from '../data/preprocess-spec.js';
import { buildModel } from '../model/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { exists } from '../util/exists.js';
import { UserError } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { type BackendChoice, type Precision, checkFits, setupBackend } from './backend-setup.js';
import { type RunState, latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { type EvalReport, evaluateModel } from './evaluate.js';
import { type MetricsLine, writeLearningCurve } from './plot.js';
import { learningRateAt } from './schedule.js';
import { exportServing } from './serving-export.js';
import { jointTrainStep } from './step.js';

export interface TrainOptions {
  modelDir: string;
  /** Continue the run in `modelDir` from its latest checkpoint (its stored settings win over the ones below). */
  resume?: boolean;
  imgDir?: string;
  trainCsv?: string;
  valCsv?: string;
  imageSize: number;
  arch: string;
  batchSize: number;
  /** Peak Adam learning rate (after warm-up, before cosine decay). */
  lr: number;
  /** Length of the run in steps; or `epochs` passes over the training CSV. */
  numSteps?: number;
  epochs?: number;
  seed: number;
  augment: boolean;
  /** Std (years) of the Gaussian soft age target; 0 = one-hot (as the original tutorial). */
  ageSigma: number;
  warmup?: number;
  schedule?: 'cosine' | 'constant';
  /** Steps between full validation passes (default 500); stored with the run, so --resume keeps it. */
  evalEvery?: number;
  /** Steps between checkpoints (default: only on stop and at the end); stored with the run like evalEvery. */
  checkpointEvery?: number;
  backend: BackendChoice;
  threads?: number;
  /** bf16 inside oneDNN's convolutions (wasm+dnnl on a CPU with bf16); default f32. */
  precision?: Precision;
  json?: boolean;
  /** Where log lines go (stderr by default; silent with json). */
  log?: (line: string) => void;
  /** Aborting it stops training like Ctrl-C does: checkpoint, then a UserError (exit code 130). */
  signal?: AbortSignal;
  /** Called after every step (tests, embedding applications). */
  onStep?: (step: number, loss: number) => void;
}

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

/**
 * Trains (or, with `resume`, continues training) a model on a labels CSV (filename,age,gender): evaluates the whole
 * validation set every `evalEvery` steps (metrics.jsonl + learning-curve.svg/png), checkpoints every
 * `checkpointEvery` steps and on SIGINT/SIGTERM, and exports a serving bundle at the end.
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const log = opts.log ?? (opts.json ? () => {} : (l: string) => process.stderr.write(l + '\n'));
  const backend = await setupBackend(opts.backend, opts.threads, opts.precision);
  const { run, resumed } = await startRun(opts);
  const [trainRows, valRows] = await Promise.all([readLabelsCsv(run.trainCsv), readLabelsCsv(run.valCsv)]);
  await requireSomeImages(run.valCsv, valRows, run.imgDir);
  const evalEvery = run.evalEvery ?? 500;
  const checkpointEvery = run.checkpointEvery ?? 0;
  const stepsPerEpoch = Math.ceil(trainRows.length / run.batchSize);
  if (!resumed) run.totalSteps = opts.numSteps ?? Math.ceil((opts.epochs ?? 1) * stepsPerEpoch);
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
  const skippedFiles = new Set<string>();
  const onSkip = (file: string, why: string) => {
    if (!skippedFiles.has(file)) log(`skipped ${file}: ${why}`);
    skippedFiles.add(file);
  };
  const stream = new TrainStream(
    trainRows,
    { imgDir: run.imgDir, spec, batchSize: run.batchSize, augment: run.augment, seed: run.seed, onSkip },
    run.stream,
  );
  const evaluate = () => evaluateModel(model, valRows, { imgDir: run.imgDir, spec, batchSize: 64, onSkip });
  const checkpoint = () => {
    run.stream = stream.state;
    run.savedAt = new Date().toISOString();
    return saveCheckpoint(opts.modelDir, model, optimizer, run, spec);
  };

  // Ctrl-C / SIGTERM: finish the current step, save a checkpoint, exit. A second signal exits at once.
  let stopSignal: string | null = null;
  const onSignal = (sig: string) => {
    if (stopSignal) process.exit(130);
    stopSignal = sig;
    log(`\n${sig}: saving a checkpoint before exiting (send it again to abort)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const onAbort = () => onSignal('abort');
  opts.signal?.addEventListener('abort', onAbort);

  const progress = createProgress({ unit: 'steps', total: run.totalSteps - run.step, json: opts.json });
  const startStep = run.step;
  let stepStart = Date.now();
  // Mean training loss since the last eval: what metrics.jsonl reports as trainLoss.
  let intervalLoss = 0;
  let intervalSteps = 0;
  try {
    while (run.step < run.totalSteps) {
      const batch = await stream.next();
      setLearningRate(optimizer, lrAt(run.step));
      const loss = jointTrainStep(
        model,
        optimizer,
        { ...batch, shape: [run.imageSize, run.imageSize, 3] },
        { ageSigma: run.ageSigma },
      );
      if (!Number.isFinite(loss)) throw new UserError(`loss is ${loss} at step ${run.step + 1}: lower --lr`);
      run.step++;
      run.smoothLoss = Number.isFinite(run.smoothLoss) ? 0.95 * run.smoothLoss + 0.05 * loss : loss;
      intervalLoss += loss;
      intervalSteps++;
      run.trainSeconds += (Date.now() - stepStart) / 1000;
      const imgPerSec = ((run.step - startStep) * run.batchSize) / Math.max(run.trainSeconds, 1e-3);
      progress.tick(1, { loss: run.smoothLoss.toFixed(3), 'img/s': imgPerSec.toFixed(1) });

      if (run.step % evalEvery === 0 || run.step === run.totalSteps) {
        const t0 = Date.now();
        run.lastEval = await evaluate();
        if (run.lastEval.n === 0)
          throw new UserError(
            `${run.valCsv}: none of its ${valRows.length} images could be read from ${run.imgDir}, ` +
              'so the model cannot be validated (see the "skipped" lines above)',
          );
        run.evalSeconds += (Date.now() - t0) / 1000;
        const trainLoss = intervalLoss / intervalSteps;
        [intervalLoss, intervalSteps] = [0, 0];
        const line = metricsLine(
          run,
          trainLoss,
          stepsPerEpoch,
          lrAt(run.step - 1),
          imgPerSec,
          stream.skipped,
        );
        history.push(line);
        await fs.appendFile(metricsPath, JSON.stringify(line) + '\n');
        await writeLearningCurve(opts.modelDir, history);
        log(
          `\nstep ${run.step}: val MAE ${line.mae} CS@5 ${line.cs5} gender ${line.genderAcc} ` +
            `loss ${line.valLoss} (train ${line.trainLoss})`,
        );
      }
      opts.onStep?.(run.step, loss);
      if (stopSignal || (checkpointEvery && run.step % checkpointEvery === 0)) await checkpoint();
      if (stopSignal) {
        progress.stop();
        throw new UserError(
          `stopped by ${stopSignal} at step ${run.step}; checkpoint saved, continue with --resume`,
          130,
        );
      }
      stepStart = Date.now();
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  progress.stop();
  const checkpointDir = await checkpoint();
  const servingDir = await exportServing(model, opts.modelDir, spec, run);
  log(`exported ${servingDir}`);
  return {
    servingDir,
    checkpointDir,
    steps: run.step,
    epochs: run.step / stepsPerEpoch,
    wallSeconds: run.trainSeconds + run.evalSeconds,
    imagesPerSecond: ((run.step - startStep) * run.batchSize) / Math.max(run.trainSeconds, 1e-3),
    skipped: stream.skipped,
    validation: run.lastEval!,
  };
}

/** A fresh run state from the options, or the stored one of the run being resumed. */
async function startRun(opts: TrainOptions) {
  if (opts.resume) {
    const resumed = await loadCheckpoint(opts.modelDir);
    if (!resumed)
      throw new UserError(
        `${opts.modelDir}: no checkpoint to resume from (remove the directory to start over)`,
      );
    const run = resumed.state;
    run.imgDir = opts.imgDir ?? run.imgDir;
    run.trainCsv = opts.trainCsv ?? run.trainCsv;
    run.valCsv = opts.valCsv ?? run.valCsv;
    if (opts.numSteps) {
      if (opts.numSteps <= run.step)
        throw new UserError(
          `--num-steps ${opts.numSteps}: the run in ${opts.modelDir} is already at step ${run.step} ` +
            `(${resumed.dir}); give more steps, or export it as it is with \`agegender export\``,
        );
      run.totalSteps = opts.numSteps;
    }
    // Runs saved before these were stored used the defaults.
    run.evalEvery = opts.evalEvery ?? run.evalEvery ?? 500;
    run.checkpointEvery = opts.checkpointEvery ?? run.checkpointEvery ?? 0;
    return { run, resumed };
  }
  if ((await latestCheckpoint(opts.modelDir)) || (await exists(path.join(opts.modelDir, 'metrics.jsonl')))) {
    throw new UserError(
      `${opts.modelDir}: already holds a run; add --resume to continue it, or use another --model-dir`,
    );
  }
  const st = await fs.stat(opts.modelDir).catch(() => null);
  if (st && !st.isDirectory())
    throw new UserError(`--model-dir ${opts.modelDir}: is a file, not a run directory`);
  if (!opts.imgDir || !opts.trainCsv || !opts.valCsv) {
    throw new UserError('--img-dir, --train-csv and --val-csv are required (except with --resume)');
  }
  await fs.mkdir(opts.modelDir, { recursive: true });
  const run: RunState = {
    format: 'agegender-checkpoint',
    version: 1,
    step: 0,
    totalSteps: 0,
    stream: { epoch: 0, cursor: 0 },
    arch: opts.arch,
    imageSize: opts.imageSize,
    batchSize: opts.batchSize,
    lr: opts.lr,
    seed: opts.seed,
    ageSigma: opts.ageSigma,
    augment: opts.augment,
    warmup: opts.warmup,
    schedule: opts.schedule,
    evalEvery: opts.evalEvery ?? 500,
    checkpointEvery: opts.checkpointEvery ?? 0,
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
