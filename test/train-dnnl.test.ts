import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dnnlLibrary } from '../src/engine/dnnl/index.js';
import { type TrainOptions, train } from '../src/api/train.js';
import { mulberry32 } from '../src/util/random.js';
import { pickUtkface, tempDir, utkfaceDir, writeLabelsCsv } from './helpers/fixtures.js';

/**
 * A short real training run (40 UTKFace crops, resnet-xs at 32x32) on wasm and on wasm+dnnl from the
 * same seed: oneDNN's convolutions only sum in another order, so every step's loss must agree closely.
 * Dropout masks come from Math.random (tfjs seeds its generator from it), so both runs get the same
 * seeded Math.random.
 */

const lib = dnnlLibrary();
const skip = 'reason' in lib ? `oneDNN unavailable: ${lib.reason}` : false;
if (skip) console.log(`skipping the wasm+dnnl training comparison: ${skip}`);

let dir: string;
let cleanup: () => Promise<void>;
let trainCsv: string;
let valCsv: string;

before(async () => {
  ({ dir, cleanup } = await tempDir());
  const samples = pickUtkface(60).filter((s) => s.age <= 100);
  trainCsv = path.join(dir, 'train.csv');
  valCsv = path.join(dir, 'val.csv');
  await writeLabelsCsv(trainCsv, samples.slice(0, 40));
  await writeLabelsCsv(valCsv, samples.slice(40, 56));
});
after(() => cleanup());

async function run(backend: 'wasm' | 'wasm+dnnl') {
  const random = Math.random;
  Math.random = mulberry32(7);
  const losses: number[] = [];
  const log: string[] = [];
  try {
    const opts: TrainOptions = {
      modelDir: path.join(dir, backend),
      imgDir: utkfaceDir,
      trainCsv,
      valCsv,
      imgSize: 32,
      arch: 'resnet-xs',
      batchSize: 8,
      lr: 3e-3,
      numSteps: 16,
      seed: 3,
      augment: true,
      ageSigma: 2,
      evalEvery: 16,
      checkpointEvery: 0,
      backend,
      threads: 1,
      onStep: (_step, loss) => losses.push(loss),
      log: (line) => log.push(line),
    };
    const result = await train(opts);
    return { result, losses, log };
  } finally {
    Math.random = random;
  }
}

describe('a short training run on wasm+dnnl', { skip }, () => {
  it('follows the wasm run step for step, and its log line names the engine', async () => {
    const wasm = await run('wasm');
    const dnnl = await run('wasm+dnnl');
    assert.match(wasm.log[0]!, /, wasm \(1 thread/);
    assert.match(dnnl.log[0]!, /, wasm\+dnnl \(oneDNN 2\.[\d.]+, \w+, 1 thread/);
    assert.equal(dnnl.losses.length, 16);
    // The summation orders' differences (~1e-7) grow as training goes on (Adam divides tiny gradients
    // by their own scale; a ReLU input near 0 flips): the first steps are held tight, the later ones looser.
    let worst = 0;
    for (const [i, l] of wasm.losses.entries()) {
      worst = Math.max(worst, Math.abs(dnnl.losses[i]! - l) / Math.abs(l));
      const d = dnnl.losses[i]!;
      assert.ok(
        Math.abs(d - l) <= (i < 6 ? 1e-5 : 1e-3) * Math.abs(l),
        `step ${i + 1}: loss ${d} on wasm+dnnl vs ${l} on wasm`,
      );
    }
    const [v1, v2] = [wasm.result.validation, dnnl.result.validation];
    assert.ok(Math.abs(v1.mae - v2.mae) < 0.05, `val MAE ${v2.mae} vs ${v1.mae}`);
    assert.equal(v2.genderAcc, v1.genderAcc);
    console.log(
      `wall: wasm ${wasm.result.wallSeconds.toFixed(1)} s, wasm+dnnl ${dnnl.result.wallSeconds.toFixed(1)} s ` +
        `(16 steps of 8 at 32x32, 1 thread); largest loss difference ${(worst * 100).toExponential(1)}%`,
    );
  });
});
