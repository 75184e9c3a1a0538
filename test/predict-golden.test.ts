import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GOLDEN_JSON, goldenCases, weightsSha256, type GoldenFile } from './helpers/golden.js';
import { Predictor, defaultModelDir } from '../src/infer/predictor.js';
import { utkfaceDir } from './helpers/fixtures.js';

// The shipped default model must keep giving the answers recorded in models/default/golden.json
// (written by `npx tsx scripts/make-golden.ts` when the model was committed), through both paths:
// an already-cropped face (--no-detect) and the same crop found by the detector on a larger canvas.

const modelDir = defaultModelDir();
const hasModel = existsSync(path.join(modelDir, 'model.json'));

test(
  'the default model answers the golden crops as recorded',
  { skip: hasModel ? false : `no default model in ${modelDir} yet` },
  async () => {
    const goldenPath = path.join(modelDir, GOLDEN_JSON);
    assert.ok(existsSync(goldenPath), `${goldenPath} is missing: run npx tsx scripts/make-golden.ts`);
    const golden = JSON.parse(await fs.readFile(goldenPath, 'utf8')) as GoldenFile;
    const sameWeights = golden.weightsSha256 === (await weightsSha256(modelDir));
    const hint = sameWeights
      ? 'same weights: the preprocessing, detector or crop rule changed'
      : 'weights.bin changed since golden.json was written: re-run npx tsx scripts/make-golden.ts';
    assert.ok(golden.cases.length >= 4);
    const predictor = await Predictor.load({ modelDir });
    try {
      const files = [...new Set(golden.cases.map((c) => c.file))];
      const now = await goldenCases(predictor, utkfaceDir, files);
      for (const [i, want] of golden.cases.entries()) {
        const got = now[i]!;
        const where = `${want.mode} ${want.file} (${hint})`;
        assert.equal(got.faces.length, want.faces.length, `faces found, ${where}`);
        got.faces.forEach((g, k) => {
          const w = want.faces[k]!;
          for (const key of ['x', 'y', 'w', 'h'] as const) {
            assert.ok(
              Math.abs(g.box[key] - w.box[key]) <= 1,
              `box.${key} ${g.box[key]} vs ${w.box[key]}, ${where}`,
            );
          }
          assert.ok(Math.abs(g.age - w.age) <= 0.05, `age ${g.age} vs ${w.age}, ${where}`);
          assert.ok(
            Math.abs(g.ageSpread - w.ageSpread) <= 0.05,
            `ageSpread ${g.ageSpread} vs ${w.ageSpread}, ${where}`,
          );
          assert.ok(Math.abs(g.pMale - w.pMale) <= 0.002, `pMale ${g.pMale} vs ${w.pMale}, ${where}`);
        });
      }
      // Most golden faces are found by the detector too (the crop-rule path is exercised, not skipped).
      const detected = golden.cases.filter((c) => c.mode === 'detect-on-canvas' && c.faces.length === 1);
      assert.ok(
        detected.length >= files.length / 2,
        `detected in ${detected.length} of ${files.length} canvases`,
      );
    } finally {
      predictor.dispose();
    }
  },
);
