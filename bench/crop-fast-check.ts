/**
 * Does preprocess's fast path (libturbojpeg + resample.ts, src/data/crops/fast-path.ts) give sharp's crop
 * pixels? Over the first N UTKFace files: each crop's pixels before encoding both ways (sharp as
 * src/data/image.ts's loadResized calls it), the largest and mean absolute difference, how many files the
 * fast path left to sharp, and the duplicate clusters (distance 22) of both sets of hashes.
 *
 *   npx tsx bench/crop-fast-check.ts [--limit 2000] [--size 64]
 */
import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fastCropPixels } from '../src/data/crops/fast-path.js';
import { parseUtkfaceName } from '../src/data/datasets/utkface.js';
import { loadResized } from '../src/data/image.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { clusterHashes, pixelHash, type ImageHash } from '../src/data/duplicates.js';
import { loadTurboJpeg } from '../src/data/jpeg-turbo.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const utk = path.resolve(here, '..', '..', 'shared', 'data', 'utkface');
const { values } = parseArgs({
  options: { limit: { type: 'string', default: '2000' }, size: { type: 'string', default: '64' } },
});
const size = Number(values.size);
// sharp's crop, as training decodes it: the reference both ways are held to.
const spec = defaultPreprocessSpec(size);
const tj = loadTurboJpeg();
if ('reason' in tj) throw new Error(tj.reason);
const names = readdirSync(utk)
  .filter((n) => parseUtkfaceName(n).ok)
  .sort()
  .slice(0, Number(values.limit));
const settings = { imgSize: size, quality: 95, margin: null };
let max = 0;
let sum = 0;
let values_ = 0;
let differing = 0;
let toSharp = 0;
const fastHashes: ImageHash[] = [];
const sharpHashes: ImageHash[] = [];
for (const name of names) {
  const input = await fs.readFile(path.join(utk, name));
  const theirs = await loadResized(input, spec);
  const ours = fastCropPixels(tj, input, { source: name, target: name }, settings);
  sharpHashes.push(pixelHash(theirs, size, size));
  if (!ours) {
    toSharp++;
    fastHashes.push(pixelHash(theirs, size, size));
    continue;
  }
  let m = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i]! - theirs[i]!);
    sum += d;
    if (d > m) m = d;
  }
  values_ += ours.length;
  if (m > 0) differing++;
  max = Math.max(max, m);
  fastHashes.push(pixelHash(ours, size, size));
}
const a = clusterHashes(fastHashes, 22);
const b = clusterHashes(sharpHashes, 22);
const same = a.every((v, i) => v === b[i]);
console.log(
  `${names.length} UTKFace files -> ${size}px: fast path ${names.length - toSharp}, left to sharp ${toSharp}`,
);
console.log(
  `crop pixels, fast vs sharp: max |diff| ${max}, mean ${(sum / Math.max(1, values_)).toFixed(4)}, crops differing ${differing}`,
);
console.log(`duplicate clusters at distance 22: ${same ? 'identical' : 'DIFFERENT'}`);
