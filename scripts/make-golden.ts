/**
 * Writes <bundle>/golden.json: the bundle's answers on a few known UTKFace crops, checked by
 * test/predict-golden.test.ts. Run it once after a new default model lands (and after calibrating it):
 *
 *   npx tsx scripts/make-golden.ts [--model-dir models/default] [--img-dir ../shared/data/utkface]
 *                                  [--files a.jpg,b.jpg,...] [--count 8]
 *
 * Without --files it takes `count` crops spread over the folder (the test split of the default model
 * is a better choice when it is known: pass its files).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/util/atomic.js';
import { pickCrops } from '../src/infer/calibrate.js';
import { GOLDEN_JSON, goldenCases, weightsSha256, type GoldenFile } from '../test/helpers/golden.js';
import { Predictor, defaultModelDir } from '../src/infer/predictor.js';

const { values } = parseArgs({
  options: {
    'model-dir': { type: 'string', default: defaultModelDir() },
    'img-dir': {
      type: 'string',
      default: path.resolve(import.meta.dirname, '..', '..', 'shared', 'data', 'utkface'),
    },
    files: { type: 'string' },
    count: { type: 'string', default: '8' },
  },
});
const modelDir = values['model-dir']!;
const imgDir = values['img-dir']!;
const files = values.files
  ? values.files.split(',').map((f) => f.trim())
  : (await pickCrops(imgDir, Number(values.count))).map((f) => path.basename(f));

const predictor = await Predictor.load({ modelDir });
const golden: GoldenFile = {
  format: 'agegender-golden',
  weightsSha256: await weightsSha256(modelDir),
  createdAt: new Date().toISOString(),
  cases: await goldenCases(predictor, imgDir, files),
};
predictor.dispose();
const out = path.join(modelDir, GOLDEN_JSON);
await writeFileAtomic(out, JSON.stringify(golden, null, 2) + '\n');
const faces = golden.cases.reduce((n, c) => n + c.faces.length, 0);
console.log(`wrote ${out}: ${golden.cases.length} cases (${files.length} crops x 2 modes), ${faces} faces`);
for (const c of golden.cases)
  console.log(`  ${c.mode.padEnd(16)} ${c.file}  ${c.faces.map((f) => f.label).join(' ') || 'no face'}`);
