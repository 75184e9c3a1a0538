/**
 * Rewrites a serving bundle's weights as float16 (half the bytes; tfjs's loaders read them back as
 * float32), in place: model.json and weights.bin are replaced atomically, preprocess.json and the rest
 * stay. Prints how far the outputs moved on a few inputs; re-run make-golden.ts afterwards.
 *
 *   npx tsx scripts/halve-weights.ts [--model-dir models/default]
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend.js';
import {
  MODEL_JSON,
  WEIGHTS_BIN,
  loadLayersModelFromDir,
  saveLayersModelToDir,
} from '../src/engine/model-io.js';
import { defaultModelDir } from '../src/infer/predictor.js';
import { writeDirAtomic } from '../src/util/atomic.js';
import { reason } from '../src/util/errors.js';

const { values } = parseArgs({ options: { 'model-dir': { type: 'string', default: defaultModelDir() } } });
const dir = values['model-dir']!;

async function main(): Promise<void> {
  await initBackend({ quiet: true });
  const before = (await fs.stat(path.join(dir, WEIGHTS_BIN))).size;
  const model = await loadLayersModelFromDir(dir);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'agegender-halve-'));
  await saveLayersModelToDir(model, tmp, { atomic: false, weights: 'float16' });
  const halved = await loadLayersModelFromDir(tmp);
  const shape = model.inputs[0]!.shape.slice(1) as number[];
  const x = tf.randomUniform([4, ...shape], -0.5, 0.5, 'float32', 7);
  const outs = [model, halved].map((m) => (m.predict(x) as tf.Tensor[]).map((t) => tf.softmax(t).dataSync()));
  let worst = 0;
  outs[0]!.forEach((p, k) => p.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - outs[1]![k]![i]!)))));
  // The whole bundle is replaced at once: a reader never sees new weights with the old manifest.
  await writeDirAtomic(path.resolve(dir), async (next) => {
    for (const name of await fs.readdir(dir)) {
      const from = [WEIGHTS_BIN, MODEL_JSON].includes(name) ? path.join(tmp, name) : path.join(dir, name);
      await fs.copyFile(from, path.join(next, name));
    }
  });
  await fs.rm(tmp, { recursive: true, force: true });
  const after = (await fs.stat(path.join(dir, WEIGHTS_BIN))).size;
  console.log(
    `${dir}: weights ${(before / 1e6).toFixed(1)} -> ${(after / 1e6).toFixed(1)} MB; ` +
      `largest change of an output probability on 4 random inputs: ${worst.toExponential(2)}`,
  );
}

// One line naming the problem (a missing bundle, a model tfjs cannot read), not a stack trace.
main().catch((err: unknown) => {
  console.error(`halve-weights: ${reason(err)}`);
  process.exit(1);
});
