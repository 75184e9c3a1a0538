/**
 * Where one image's preprocessing time goes, stage by stage, one image at a time in one thread (no
 * overlap, so the stages add up), on both crop paths (docs/preprocess.md): read the file, key it
 * (SHA-256), decode, shrink to the crop, hash the crop's pixels (duplicates), JPEG-encode, write (temp
 * file + rename). The fast path decodes with libturbojpeg (DCT-scaled) and shrinks with resample.ts;
 * sharp decodes and shrinks in one pipeline (its row shows under decode) and encodes in a second.
 * CPU ms per image (this thread), so a busy machine moves it less than wall time.
 *
 *   npx tsx bench/preprocess-profile.ts [--limit 1000] [--size 64]
 */
import { createHash } from 'node:crypto';
import { promises as fs, readdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { jpegFacts } from '../src/data/plain-jpeg.js';
import { parseUtkfaceName } from '../src/data/datasets/utkface.js';
import { loadResized } from '../src/data/image.js';
import { defaultPreprocessSpec } from '../src/data/preprocess-spec.js';
import { pixelHash } from '../src/data/duplicates.js';
import { loadTurboJpeg } from '../src/data/jpeg-turbo.js';
import { vipsShrink } from '../src/data/resample.js';
import { readRegularFileSync } from '../src/util/regular-file.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const utk = path.resolve(here, '..', '..', 'shared', 'data', 'utkface');
const { values } = parseArgs({
  options: { limit: { type: 'string', default: '1000' }, size: { type: 'string', default: '64' } },
});
const size = Number(values.size);
// sharp's crop, as training decodes it: the reference both ways are held to.
const spec = defaultPreprocessSpec(size);
const names = readdirSync(utk)
  .filter((n) => parseUtkfaceName(n).ok)
  .sort()
  .slice(0, Number(values.limit));
const loaded = loadTurboJpeg();
if ('reason' in loaded) throw new Error(loaded.reason);
const tj = loaded;
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-profile-'));
sharp.concurrency(1);
const stages = ['read', 'key (sha256)', 'decode', 'resize', 'hash', 'encode', 'write', 'total'] as const;
type Times = Record<(typeof stages)[number], number>;
const zero = (): Times => Object.fromEntries(stages.map((s) => [s, 0])) as Times;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One pass over the files on one path; the second pass of each is reported (the first warms up). */
async function pass(way: 'fast' | 'sharp', dir: string): Promise<Times> {
  const ms = zero();
  let t = cpu();
  const lap = (k: keyof Times) => {
    const now = cpu();
    ms[k] += now - t;
    t = now;
  };
  await fs.mkdir(dir, { recursive: true });
  for (const n of names) {
    t = cpu();
    const input = readRegularFileSync(path.join(utk, n));
    lap('read');
    createHash('sha256').update(input).digest('base64url');
    lap('key (sha256)');
    let pixels: Uint8Array;
    if (way === 'fast') {
      // fast-path.ts's steps for a 200 px UTKFace crop: header, shrink-on-load 2, then resample.
      jpegFacts(input);
      const header = tj.header(input)!;
      const onLoad = Math.min(header.width, header.height) / size >= 2 ? 2 : 1;
      const w = Math.ceil(header.width / onLoad);
      const h = Math.ceil(header.height / onLoad);
      const decoded = new Uint8Array(w * h * 3);
      tj.decode(input, header, onLoad, decoded);
      lap('decode');
      const f = Math.min(w, h) / size;
      pixels = vipsShrink(decoded, w, h, f, f)!.data;
      lap('resize');
    } else {
      pixels = await loadResized(input, spec);
      lap('decode');
    }
    pixelHash(pixels, size, size);
    lap('hash');
    const jpeg =
      way === 'fast'
        ? tj.encode(pixels, size, size, 95)
        : await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
            .jpeg({ quality: 95 })
            .toBuffer();
    lap('encode');
    const file = path.join(dir, n);
    writeFileSync(`${file}.tmp`, jpeg);
    renameSync(`${file}.tmp`, file);
    lap('write');
  }
  ms.total = stages.slice(0, -1).reduce((s, k) => s + ms[k], 0);
  return ms;
}

try {
  const fast = (await pass('fast', path.join(work, 'a')), await pass('fast', path.join(work, 'b')));
  const slow = (await pass('sharp', path.join(work, 'c')), await pass('sharp', path.join(work, 'd')));
  console.log(`${names.length} UTKFace images -> ${size}px, one at a time, CPU ms per image:`);
  console.log(`  ${'stage'.padEnd(14)} ${'fast path'.padStart(9)} ${'sharp'.padStart(9)}`);
  for (const k of stages) {
    const f = (fast[k] / names.length).toFixed(3);
    const s = (slow[k] / names.length).toFixed(3);
    console.log(`  ${k.padEnd(14)} ${f.padStart(9)} ${s.padStart(9)}`);
  }
} finally {
  await fs.rm(work, { recursive: true, force: true });
}
