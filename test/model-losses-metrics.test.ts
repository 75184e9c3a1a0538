import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ARCHS, buildModel } from '../src/model/index.js';
import { ageTargets, genderTargets, jointLoss, softmaxCrossEntropy } from '../src/model/losses.js';
import { MetricsAccumulator, ageBand, expectedAge, maleProbability } from '../src/model/metrics.js';

before(async () => {
  await tf.setBackend('cpu');
});

describe('losses', () => {
  it('cross-entropy of uniform logits is ln(classes)', () => {
    const ce = softmaxCrossEntropy(tf.tensor2d([[0, 1]]), tf.tensor2d([[3, 3]]));
    assert.ok(Math.abs(ce.dataSync()[0]! - Math.LN2) < 1e-6);
  });

  it('cross-entropy by hand: logits [0, ln 3] -> p = [1/4, 3/4]', () => {
    const logits = tf.tensor2d([
      [0, Math.log(3)],
      [0, Math.log(3)],
    ]);
    const ce = softmaxCrossEntropy(
      tf.tensor2d([
        [0, 1],
        [1, 0],
      ]),
      logits,
    ).dataSync()[0]!;
    // mean of -ln(3/4) and -ln(1/4)
    assert.ok(Math.abs(ce - (-Math.log(0.75) - Math.log(0.25)) / 2) < 1e-6);
  });

  it('joint loss is the mean of the two heads', () => {
    const age = tf.zeros([1, 101]) as tf.Tensor2D;
    const gender = tf.tensor2d([[0, Math.log(3)]]);
    const l = jointLoss(
      age,
      gender,
      tf.tensor2d(ageTargets([30]), [1, 101]),
      tf.tensor2d(genderTargets([1]), [1, 2]),
    );
    const want = (Math.log(101) - Math.log(0.75)) / 2;
    assert.ok(Math.abs(l.dataSync()[0]! - want) < 1e-5);
  });

  it('age targets: one-hot, or a normalised Gaussian centred on the age', () => {
    const hard = ageTargets([0, 100]);
    assert.equal(hard[0], 1);
    assert.equal(hard[101 + 100], 1);
    assert.equal(
      hard.reduce((a, b) => a + b, 0),
      2,
    );
    const soft = ageTargets([40], 2);
    assert.ok(Math.abs(soft.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assert.ok(soft[40]! > soft[39]! && soft[39]! > soft[37]! && Math.abs(soft[39]! - soft[41]!) < 1e-7);
    // exp(-1/(2*4)) ratio between neighbours one year apart
    assert.ok(Math.abs(soft[41]! / soft[40]! - Math.exp(-1 / 8)) < 1e-5);
  });

  it('centred age targets: the mean is the true age at the ends too, the cut Gaussian is not', () => {
    const mean = (t: Float32Array) => t.reduce((m, v, i) => m + v * i, 0);
    // The Gaussian cut at 0 and renormalised answers high for babies and low for the oldest.
    assert.ok(mean(ageTargets([1], 2)) > 1.7);
    assert.ok(mean(ageTargets([100], 2)) < 99);
    for (const a of [1, 2, 3, 50, 97, 99]) {
      const t = ageTargets([a], 2, true);
      assert.ok(Math.abs(t.reduce((x, y) => x + y, 0) - 1) < 1e-5, `age ${a}: sums to 1`);
      assert.ok(Math.abs(mean(t) - a) < 1e-3, `age ${a}: mean ${mean(t)}`);
    }
    // At 0 and 100 the mean is only reached in the limit: nearly all the mass on the end class.
    assert.ok(mean(ageTargets([0], 2, true)) < 0.02);
    assert.ok(mean(ageTargets([100], 2, true)) > 99.98);
    // Away from the ends the target is the plain Gaussian.
    const mid = ageTargets([50], 2, true);
    const plain = ageTargets([50], 2);
    assert.ok(mid.every((v, i) => Math.abs(v - plain[i]!) < 1e-6));
  });

  it('weighted cross-entropy: the batch mean of w_i * CE_i', () => {
    const targets = tf.tensor2d([
      [0, 1],
      [1, 0],
    ]);
    const logits = tf.tensor2d([
      [0, Math.log(3)],
      [0, Math.log(3)],
    ]);
    const ce = softmaxCrossEntropy(targets, logits, tf.tensor1d([2, 0])).dataSync()[0]!;
    assert.ok(Math.abs(ce - (2 * -Math.log(0.75)) / 2) < 1e-6);
  });

  it('gender targets with smoothing', () => {
    assert.deepEqual([...genderTargets([1, 0])], [0, 1, 1, 0]);
    const s = genderTargets([1], 0.2);
    assert.ok(Math.abs(s[0]! - 0.1) < 1e-7 && Math.abs(s[1]! - 0.9) < 1e-7);
  });
});

describe('metrics', () => {
  it('DEX expectation: all mass on one class gives that age; two equal classes give their middle', () => {
    const logits = tf.fill([2, 101], -1e4).bufferSync();
    logits.set(0, 0, 25);
    logits.set(0, 1, 20);
    logits.set(0, 1, 40);
    const ages = expectedAge(logits.toTensor() as tf.Tensor2D).dataSync();
    assert.ok(Math.abs(ages[0]! - 25) < 1e-3);
    assert.ok(Math.abs(ages[1]! - 30) < 1e-3);
  });

  it('male probability is softmax index 1', () => {
    const p = maleProbability(tf.tensor2d([[0, Math.log(3)]])).dataSync();
    assert.ok(Math.abs(p[0]! - 0.75) < 1e-6);
  });

  it('MAE, CS@5 and gender accuracy on hand-checkable values', () => {
    const acc = new MetricsAccumulator();
    acc.add([20, 30], [0.9, 0.2], [25, 40], [1, 1]); // errors 5 and 10; genders right, wrong
    acc.add([50], [0.5], [48], [1]); // error 2; 0.5 counts as male -> right
    const m = acc.result();
    assert.equal(m.n, 3);
    assert.ok(Math.abs(m.mae - 17 / 3) < 1e-9);
    assert.ok(Math.abs(m.cs5 - 2 / 3) < 1e-9);
    assert.ok(Math.abs(m.genderAcc - 2 / 3) < 1e-9);
    assert.ok(Number.isNaN(new MetricsAccumulator().result().mae));
  });

  it('age bands', () => {
    assert.deepEqual([0, 9, 10, 69, 70, 100].map(ageBand), ['0-9', '0-9', '10-19', '60-69', '70+', '70+']);
  });
});

describe('architectures', () => {
  it('every arch has one [N,S,S,3] input and outputs age (101) then gender (2)', () => {
    for (const arch of ARCHS) {
      const m = buildModel(arch, { imageSize: 32, seed: 3 });
      assert.deepEqual(m.inputs[0]!.shape, [null, 32, 32, 3]);
      assert.deepEqual(
        m.outputs.map((o) => o.shape),
        [
          [null, 101],
          [null, 2],
        ],
      );
      assert.deepEqual(m.outputNames, ['age', 'gender']);
      m.dispose();
    }
  });

  it('basic-cnn is the seed network: 5x5 convs 32/64/128, dense 1024, dropout 0.2/0.4/0.7/0.4', () => {
    const m = buildModel('basic-cnn', { imageSize: 64 });
    const convs = m.layers.filter((l) => l.getClassName() === 'Conv2D');
    assert.deepEqual(
      convs.map((l) => [
        (l.getConfig() as { filters: number }).filters,
        (l.getConfig() as { kernelSize: number[] }).kernelSize,
      ]),
      [
        [32, [5, 5]],
        [64, [5, 5]],
        [128, [5, 5]],
      ],
    );
    const rates = m.layers
      .filter((l) => l.getClassName() === 'Dropout')
      .map((l) => (l.getConfig() as { rate: number }).rate);
    assert.deepEqual(rates, [0.2, 0.4, 0.7, 0.4]);
    assert.equal(m.getLayer('fc').outputShape[1], 1024);
    m.dispose();
  });

  it('the same seed builds the same weights; unknown arch is a one-line user error', () => {
    const a = buildModel('resnet-xs', { imageSize: 32, seed: 7 });
    const b = buildModel('resnet-xs', { imageSize: 32, seed: 7 });
    const wa = a.getWeights().map((w) => w.dataSync());
    const wb = b.getWeights().map((w) => w.dataSync());
    assert.deepEqual(wa, wb);
    assert.throws(() => buildModel('vgg99', { imageSize: 32 }), /unknown network "vgg99"/);
  });
});
