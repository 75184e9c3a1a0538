/**
 * Dumps, for every row of a labels CSV, several feature taps of the frozen dlib ResNet (plain and mirrored
 * views) for bench/heads-cv.py, which cross-validates heads on them. Used to compare feature sets with
 * less noise than one validation split gives (MODEL_CARD.md, "5-fold cross-validation").
 *
 *   npx tsx bench/heads-cv-features.ts --csv var/utk150/train.csv --img-dir var/utk150/crop --out var/feat/utk-train
 *
 * Writes <out>.f32 (rows x 2 views x 8,044 float32: the 256 pooled features, the 8x8x128 map pooled to 4x4,
 * the 17x17x64 map pooled to 4x4, the 35x35x32 map pooled to 4x4, the 4x4x256 map of the last 4x4 stage,
 * the 150 px input pooled to 6x6 RGB) and <out>.json (the rows kept; unreadable images are skipped).
 */
import { promises as fs } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { evalBatches } from '../src/data/dataset-stream.js';
import { readLabelsCsv } from '../src/data/labels-csv.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { DLIB_RESNET } from '../src/model/backbones/dlib-resnet.js';
import { setupBackend } from '../src/train/backend-setup.js';

const { values } = parseArgs({
  options: { csv: { type: 'string' }, 'img-dir': { type: 'string' }, out: { type: 'string' } },
});
if (!values.csv || !values['img-dir'] || !values.out)
  throw new Error('usage: --csv FILE --img-dir DIR --out PREFIX');
console.error(await setupBackend('auto'));
const size = DLIB_RESNET.inputSize;
const spec = { ...defaultPreprocessSpec(size), normalization: DLIB_RESNET.normalization, faceCrop: null };
const dlib = await DLIB_RESNET.build();
const image = tf.input({ shape: [size, size, 3] });
const full = tf.model({ inputs: image, outputs: dlib.tail(dlib.trunk(image)) });

/** The output, in this model (the layers' second application), of the ReLU after block `block`'s sum. */
function blockOutput(block: string): tf.SymbolicTensor {
  for (const layer of full.layers) {
    if (layer.getClassName() !== 'ReLU') continue;
    const nodes = (layer as unknown as { inboundNodes: { inboundLayers: tf.layers.Layer[] }[] }).inboundNodes;
    if (nodes[0]?.inboundLayers[0]?.name === `dlib_${block}_add`)
      return layer.getOutputAt(1) as tf.SymbolicTensor;
  }
  throw new Error(`no block ${block}`);
}
const taps = tf.model({
  inputs: image,
  outputs: [
    full.outputs[0]!,
    blockOutput('conv128_2'),
    blockOutput('conv64_3'),
    blockOutput('conv32_3'),
    blockOutput('conv256_2'),
  ],
});
const PER = 256 + 2048 + 1024 + 512 + 4096 + 108;
const rows = await readLabelsCsv(values.csv);
const kept: typeof rows = [];
const file = await fs.open(`${values.out}.f32`, 'w');
const t0 = Date.now();
for await (const b of evalBatches(rows, { imgDir: values['img-dir'], spec, batchSize: 32 })) {
  const n = b.rows.length;
  const feats = tf.tidy(() => {
    const x = tf.tensor4d(b.x, [n, size, size, 3]);
    const both = tf.concat([x, tf.reverse(x, 2)], 0); // the plain views, then the mirrored ones
    const [pooled, m8, m17, m35, m4] = taps.predict(both) as tf.Tensor4D[];
    const flat = (t: tf.Tensor) => t.reshape([2 * n, -1]);
    const all = tf.concat(
      [
        pooled!,
        flat(tf.avgPool(m8!, 2, 2, 'valid')),
        flat(tf.avgPool(m17!, 4, 4, 'valid')),
        flat(tf.avgPool(m35!, 8, 8, 'valid')),
        flat(m4!),
        flat(tf.avgPool(both, 25, 25, 'valid')),
      ],
      1,
    );
    // Row i's plain view, then its mirrored one.
    return tf.stack([all.slice([0, 0], [n, PER]), all.slice([n, 0], [n, PER])], 1).reshape([-1]);
  });
  const data = (await feats.data()) as Float32Array;
  feats.dispose();
  await file.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  kept.push(...b.rows);
  process.stderr.write(
    `\r${kept.length}/${rows.length} (${(kept.length / ((Date.now() - t0) / 1000)).toFixed(1)}/s)`,
  );
}
await file.close();
await fs.writeFile(`${values.out}.json`, JSON.stringify({ per: PER, rows: kept }));
console.error(`\n${values.out}: ${kept.length} rows`);
