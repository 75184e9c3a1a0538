import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fit } from '../src/train/fit.js';
import type { StepBatch } from '../src/train/step.js';
import { StoppedError, UserError } from '../src/util/errors.js';

/** A tiny [4 features] -> [age, gender] model, and batches of 2 rows. */
function probe() {
  const x = tf.input({ shape: [4] });
  const age = tf.layers.dense({ units: 101, name: 'age' }).apply(x) as tf.SymbolicTensor;
  const gender = tf.layers.dense({ units: 2, name: 'gender' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: [age, gender] });
}
const batch = (value = 0.5): StepBatch => ({
  x: new Float32Array(8).fill(value),
  shape: [4],
  ages: [30, 40],
  genders: [0, 1],
});
const common = { phase: 'probe', ageSigma: 2, json: true, lr: () => 0.01 };

before(() => tf.setBackend('cpu'));

describe('fit, the one training loop', () => {
  it('runs the steps, reports each step and each epoch mean, with the learning rate of the schedule', async () => {
    const steps: number[] = [];
    const epochs: [number, number][] = [];
    const rates: number[] = [];
    await fit({
      ...common,
      model: probe(),
      next: () => batch(),
      steps: 6,
      stepsPerEpoch: 3,
      lr: (step) => (rates.push(step), 0.01),
      callbacks: [{ onStep: (s) => void steps.push(s), onEpoch: (e, loss) => void epochs.push([e, loss]) }],
    });
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(rates, [0, 0, 1, 2, 3, 4, 5], 'the optimizer is made at step 0, then one rate a step');
    assert.deepEqual(
      epochs.map(([e]) => e),
      [1, 2],
    );
    assert.ok(epochs[1]![1] < epochs[0]![1], 'the loss falls');
  });

  it('refuses a non-finite loss with one line naming the phase and the step', async () => {
    let n = 0;
    await assert.rejects(
      fit({
        ...common,
        model: probe(),
        next: () => batch(++n === 2 ? NaN : 0.5),
        steps: 5,
        stepsPerEpoch: 5,
      }),
      (e: unknown) =>
        e instanceof UserError &&
        e.message === 'probe phase: the loss is NaN at step 2; lower the learning rate',
    );
  });

  it('stops on the signal after the current step, letting callbacks save first; an aborted signal stops before any step', async () => {
    const stop = new AbortController();
    await assert.rejects(
      fit({
        ...common,
        model: probe(),
        next: () => batch(),
        steps: 10,
        stepsPerEpoch: 10,
        signal: stop.signal,
        callbacks: [
          { onStep: (s) => void (s === 3 && stop.abort('SIGINT')), onStop: (s) => `saved step ${s}` },
        ],
      }),
      (e: unknown) =>
        e instanceof StoppedError &&
        e.exitCode === 130 &&
        e.message === 'stopped by SIGINT at probe step 3; saved step 3',
    );
    let called = false;
    await assert.rejects(
      fit({
        ...common,
        model: probe(),
        next: () => ((called = true), batch()),
        steps: 2,
        stepsPerEpoch: 2,
        signal: stop.signal,
      }),
      StoppedError,
    );
    assert.ok(!called);
  });
});
