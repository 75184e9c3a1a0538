import type * as tf from '@tensorflow/tfjs';
import { createAdam, setLearningRate } from '../engine/adam.js';
import { StoppedError, UserError } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { type StepBatch, jointTrainStep } from './step.js';

/**
 * The one training loop: every phase of every trainer (the from-scratch network, the heads on cached
 * backbone features, the whole network on images) runs its steps here, so each gets the same
 * learning-rate schedule, NaN guard, progress and stop signal. What differs between phases (where batches
 * come from, what is evaluated, written or drawn and when) is passed in as `next` and `callbacks`.
 *
 * @example
 * await fit({
 *   phase: 'heads', model, next: () => batches.next(), steps: 300, stepsPerEpoch: 20,
 *   lr: (step) => learningRateAt(step, 300, 1e-3), ageSigma: 2,
 *   callbacks: [{ onEpoch: (epoch, loss) => console.log(epoch, loss) }],
 * });
 */

/** What a phase does between steps. All are optional; each may be async (it is awaited). */
export interface Callback {
  /** After every step: the number of steps done so far (over the whole run) and this step's loss. */
  onStep?(step: number, loss: number): void | Promise<void>;
  /** After the last step of an epoch: its number (from 1) and its mean loss. */
  onEpoch?(epoch: number, meanLoss: number): void | Promise<void>;
  /** The stop signal ends the run after `step`: save what must survive; the text is added to the message. */
  onStop?(step: number): void | string | Promise<void | string>;
}

export interface FitOptions {
  /** Names the phase in the progress bar and in errors ('train', 'heads', 'full'). */
  phase: string;
  model: tf.LayersModel;
  /** The next training batch (a phase's data order is its own: shuffled rows, a resumable stream). */
  next: () => StepBatch | Promise<StepBatch>;
  /** Steps done when the run ends (a resumed run has done `startStep` of them already). */
  steps: number;
  startStep?: number;
  stepsPerEpoch: number;
  /** Learning rate at a step (0-based): warm-up then decay (schedule.ts). */
  lr: (step: number) => number;
  ageSigma: number;
  /** Age targets whose mean is the true age at the ends of the range too (losses.ts ageTargets). */
  centredAgeTargets?: boolean;
  /** A resumed run's optimizer (its moments restored); by default a fresh Adam. */
  optimizer?: tf.Optimizer;
  callbacks?: Callback[];
  /** Aborting it ends the run after the current step (the callbacks' onStop first), with StoppedError. */
  signal?: AbortSignal;
  /** The figures the progress bar shows after each step's callbacks (default: epoch, the epoch's mean loss). */
  fields?: (step: number, loss: number) => Record<string, string | number>;
  /** No progress bar (the library's quiet mode). */
  json?: boolean;
}

/** Runs the steps; resolves when the last is done, rejects with StoppedError on the stop signal. */
export async function fit(o: FitOptions): Promise<void> {
  throwIfStopped(o.signal, o.phase, o.startStep ?? 0);
  const optimizer = o.optimizer ?? createAdam(o.lr(0));
  const callbacks = o.callbacks ?? [];
  const start = o.startStep ?? 0;
  const progress = createProgress({
    unit: o.phase === 'train' ? 'steps' : `${o.phase} steps`,
    total: o.steps - start,
    json: o.json,
  });
  let epochLoss = 0;
  let epochSteps = 0;
  try {
    for (let step = start; step < o.steps;) {
      setLearningRate(optimizer, o.lr(step));
      const loss = jointTrainStep(o.model, optimizer, await o.next(), {
        ageSigma: o.ageSigma,
        centredAgeTargets: o.centredAgeTargets,
      });
      step++;
      // A diverged run stops here instead of training on, and exporting, a NaN model.
      if (!Number.isFinite(loss))
        throw new UserError(`${o.phase} phase: the loss is ${loss} at step ${step}; lower the learning rate`);
      epochLoss += loss;
      epochSteps++;
      for (const c of callbacks) await c.onStep?.(step, loss);
      progress.tick(
        1,
        o.fields?.(step, loss) ?? {
          epoch: Math.ceil(step / o.stepsPerEpoch),
          loss: (epochLoss / epochSteps).toFixed(3),
        },
      );
      if (step % o.stepsPerEpoch === 0) {
        const mean = epochLoss / epochSteps;
        [epochLoss, epochSteps] = [0, 0];
        for (const c of callbacks) await c.onEpoch?.(step / o.stepsPerEpoch, mean);
      }
      if (o.signal?.aborted && step < o.steps) {
        progress.stop();
        const notes: string[] = [];
        for (const c of callbacks) {
          const note = await c.onStop?.(step);
          if (note) notes.push(note);
        }
        throw new StoppedError(stoppedText(o.signal, o.phase, step) + notes.map((n) => `; ${n}`).join(''));
      }
    }
  } finally {
    progress.stop();
    if (!o.optimizer) optimizer.dispose();
  }
}

/** An already-aborted signal: stop before any work (the library's contract for `signal`). */
export function throwIfStopped(signal: AbortSignal | undefined, phase: string, step = 0): void {
  if (signal?.aborted) throw new StoppedError(stoppedText(signal, phase, step));
}

/** `stopped by SIGINT at step 13` (the CLI aborts with the signal's name as the reason). */
function stoppedText(signal: AbortSignal, phase: string, step: number): string {
  const why = typeof signal.reason === 'string' ? signal.reason : 'abort';
  return `stopped by ${why} at ${phase === 'train' ? '' : `${phase} `}step ${step}`;
}
