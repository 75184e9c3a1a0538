import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createAdam } from '../src/engine/adam.js';
import { ageGenderHeads } from '../src/model/heads.js';
import type { LabelledImage } from '../src/data/labels-csv.js';
import type { FeatureSet } from '../src/train/feature-cache.js';
import { auditGenderLabels, foldOf, locate } from '../src/train/label-audit.js';
import { jointTrainStep } from '../src/train/step.js';
import { mulberry32 } from '../src/util/random.js';

/**
 * Synthetic cached features in which gender is plain to see (feature 0 is +1 for men, -1 for women, plus
 * noise), with the labels of a few rows flipped: the audit must name exactly those rows.
 */
function syntheticSets(flipped: Set<number>): { sets: FeatureSet[]; truth: number[] } {
  const rand = mulberry32(3);
  const per = 8;
  const views = 2;
  const truth: number[] = [];
  const sets = [60, 40].map((count, si) => {
    const rows: LabelledImage[] = [];
    const data = new Float32Array(count * views * per);
    for (let i = 0; i < count; i++) {
      const global = si === 0 ? i : 60 + i;
      const male = (i % 2) as 0 | 1;
      truth.push(male);
      for (let v = 0; v < views; v++)
        for (let k = 0; k < per; k++)
          data[(i * views + v) * per + k] = (k === 0 ? (male ? 1 : -1) : 0) + (rand() - 0.5) * 0.4;
      rows.push({
        filename: `s${si}_${i}.jpg`,
        age: 30,
        gender: flipped.has(global) ? ((1 - male) as 0 | 1) : male,
      });
    }
    return { rows, views, data, per, shape: [per], skipped: 0 };
  });
  return { sets, truth };
}

async function trainSmallHeads(sets: FeatureSet[], use: Uint32Array, fold: number): Promise<tf.LayersModel> {
  const input = tf.input({ shape: [sets[0]!.per] });
  const heads = ageGenderHeads({
    hidden: 8,
    dropout: 0,
    seed: fold + 1,
    prefix: `t${fold}_`,
    outputPrefix: `t${fold}_`,
  });
  const model = tf.model({ inputs: input, outputs: heads(input) });
  const optimizer = createAdam(0.05);
  for (let step = 0; step < 60; step++) {
    const x = new Float32Array(use.length * sets[0]!.per);
    const ages: number[] = [];
    const genders: number[] = [];
    use.forEach((global, j) => {
      const { set, row } = locate(sets, global);
      const s = sets[set]!;
      x.set(s.data.subarray(row * s.views * s.per, (row * s.views + 1) * s.per), j * s.per);
      ages.push(s.rows[row]!.age);
      genders.push(s.rows[row]!.gender);
    });
    jointTrainStep(model, optimizer, { x, shape: [sets[0]!.per], ages, genders }, { ageSigma: 2 });
  }
  optimizer.dispose();
  return model;
}

describe('label audit', () => {
  it('names the rows whose gender label the other folds contradict, least trusted first', async () => {
    await tf.setBackend('cpu');
    const flipped = new Set([3, 42, 71]);
    const { sets } = syntheticSets(flipped);
    const audit = await auditGenderLabels(sets, {
      folds: 5,
      threshold: 0.2,
      seed: 1,
      trainFold: async (use, fold) => trainSmallHeads(sets, use, fold),
    });
    assert.deepEqual(
      [...audit.suspects].sort((a, b) => a - b),
      [...flipped],
    );
    for (let i = 1; i < audit.suspects.length; i++)
      assert.ok(audit.pLabel[audit.suspects[i - 1]!]! <= audit.pLabel[audit.suspects[i]!]!);
    assert.equal(audit.keep.length, 100 - flipped.size);
    assert.ok(![...audit.keep].some((i) => flipped.has(i)));
    // Every clean row's own label is believed.
    for (const i of audit.keep) assert.ok(audit.pLabel[i]! > 0.5, `row ${i}: ${audit.pLabel[i]}`);
  });

  it('deals rows into folds of equal size, the same for the same seed', () => {
    const a = foldOf(103, 5, 7);
    assert.deepEqual(a, foldOf(103, 5, 7));
    assert.notDeepEqual(a, foldOf(103, 5, 8));
    const sizes = [0, 0, 0, 0, 0];
    a.forEach((f) => sizes[f]!++);
    assert.deepEqual(sizes, [21, 21, 21, 20, 20]);
  });
});
