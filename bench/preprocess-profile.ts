/**
 * Where one image's preprocessing time goes, stage by stage, one image at a time (no overlap, so the
 * stages add up): read the file, decode + resize to the crop (raw), JPEG-encode the crop, write it, and
 * the duplicate hash, taken the old way (decode the written crop again) and the new way (from the crop's
 * pixels already in memory).
 *
 *   npx tsx bench/preprocess-profile.ts [--limit 500] [--size 64]
 */
import { promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { parseUtkfaceName } from '../src/data/datasets/utkface.js';
import { imageHash, pixelHash } from '../src/data/duplicates.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const utk = path.resolve(here, '..', '..', 'shared', 'data', 'utkface');
const { values } = parseArgs({
  options: { limit: { type: 'string', default: '500' }, size: { type: 'string', default: '64' } },
});
const size = Number(values.size);
const names = readdirSync(utk)
  .filter((n) => parseUtkfaceName(n).ok)
  .sort()
  .slice(0, Number(values.limit));
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-profile-'));
sharp.concurrency(1);
const ms: Record<string, number> = {
  read: 0,
  'decode+resize': 0,
  encode: 0,
  write: 0,
  'hash (decode crop again)': 0,
  'hash (from pixels)': 0,
};
const t = () => performance.now();
try {
  for (const [i, n] of names.entries()) {
    let t0 = t();
    const input = await fs.readFile(path.join(utk, n));
    ms.read! += t() - t0;
    t0 = t();
    const raw = await sharp(input, { failOn: 'error' })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .resize(size, size, { fit: 'cover', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
    ms['decode+resize']! += t() - t0;
    t0 = t();
    const jpeg = await sharp(raw, { raw: { width: size, height: size, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
    ms.encode! += t() - t0;
    t0 = t();
    const file = path.join(work, `${i}.jpg`);
    await fs.writeFile(file, jpeg);
    ms.write! += t() - t0;
    t0 = t();
    await imageHash(file);
    ms['hash (decode crop again)']! += t() - t0;
    t0 = t();
    pixelHash(raw, size, size);
    ms['hash (from pixels)']! += t() - t0;
  }
  console.log(`${names.length} UTKFace images -> ${size}px, one at a time, ms per image:`);
  for (const [k, v] of Object.entries(ms)) console.log(`  ${k.padEnd(26)} ${(v / names.length).toFixed(3)}`);
} finally {
  await fs.rm(work, { recursive: true, force: true });
}
