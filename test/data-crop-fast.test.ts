import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { fastCropPixels } from '../src/data/crops/fast-path.js';
import {
  prepareCropDir,
  writeCrops,
  type CropJob,
  type CropOutcome,
  type CropSettings,
} from '../src/data/crops/write-crops.js';
import { clusterHashes, hashDistance } from '../src/data/duplicates.js';
import { loadTurboJpeg } from '../src/data/jpeg-turbo.js';
import { pickUtkface, tempDir, utkfaceDir } from './helpers/fixtures.js';

// preprocess makes crops on a fast path (libturbojpeg + our port of libvips's shrink, crop-fast.ts) and
// falls back to sharp for what it cannot promise: both must give the same crops, the same duplicate
// hashes and the same errors, or training data would depend on whether libturbojpeg is installed.

const tj = loadTurboJpeg();
const skip = 'reason' in tj ? `libturbojpeg absent: ${tj.reason}` : false;
const settings: CropSettings = { imgSize: 64, quality: 95, margin: null };

/** Runs writeCrops over `jobs` into a fresh folder, on the fast path or (AGEGENDER_JPEG=sharp) sharp's. */
async function crop(dir: string, jobs: CropJob[], path_: 'fast' | 'sharp', s = settings) {
  const saved = process.env.AGEGENDER_JPEG;
  if (path_ === 'sharp') process.env.AGEGENDER_JPEG = 'sharp';
  else delete process.env.AGEGENDER_JPEG;
  try {
    const log = await prepareCropDir(dir, s);
    const outcomes = new Map<string, CropOutcome>();
    await writeCrops(dir, jobs, s, log, (job, o) => outcomes.set(job.target, o));
    return outcomes;
  } finally {
    if (saved === undefined) delete process.env.AGEGENDER_JPEG;
    else process.env.AGEGENDER_JPEG = saved;
  }
}

async function pixels(file: string): Promise<Buffer> {
  return sharp(file).raw().toBuffer();
}

test(
  'fast path and sharp give the same crops and duplicate hashes: whole image, margin box, region',
  { skip },
  async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const samples = pickUtkface(40, 3);
      const jobs: CropJob[] = samples.map((s) => ({ source: path.join(utkfaceDir, s.file), target: s.file }));
      // A copy of the first photo, so that the clusters have something to find.
      await fs.copyFile(jobs[0]!.source, path.join(dir, 'copy.jpg'));
      jobs.push({ source: path.join(dir, 'copy.jpg'), target: 'copy.jpg' });
      jobs.push({ source: jobs[1]!.source, target: 'sub/folder/second.jpg' }); // a CSV's relative path
      const regions: CropJob[] = jobs.slice(0, 4).map((j, i) => ({
        ...j,
        target: `region-${i}.jpg`,
        region: { x: -10 + 7 * i, y: 5, w: 150 + 10 * i },
      }));
      const all = [...jobs, ...regions];
      const fast = await crop(path.join(dir, 'fast'), all, 'fast');
      const slow = await crop(path.join(dir, 'sharp'), all, 'sharp');
      const boxed = { ...settings, margin: 0.2 };
      const boxJobs = jobs.slice(0, 4).map((j) => ({ ...j, box: [30, 40, 150, 170] }));
      const fastBox = await crop(path.join(dir, 'fast-box'), boxJobs, 'fast', boxed);
      const slowBox = await crop(path.join(dir, 'sharp-box'), boxJobs, 'sharp', boxed);

      for (const [a, b, folder] of [
        [fast, slow, ''],
        [fastBox, slowBox, '-box'],
      ] as const) {
        assert.equal(a.size, b.size);
        for (const [target, o] of a) {
          const other = b.get(target)!;
          assert.equal(o.status, 'written', target);
          assert.deepEqual(o, other, `${target}: same outcome and hash`);
          const [p, q] = await Promise.all([
            pixels(path.join(dir, `fast${folder}`, target)),
            pixels(path.join(dir, `sharp${folder}`, target)),
          ]);
          let max = 0;
          for (let i = 0; i < p.length; i++) max = Math.max(max, Math.abs(p[i]! - q[i]!));
          assert.equal(max, 0, `${target}: the written crops differ by up to ${max} grey levels`);
        }
      }
      const hashes = (m: Map<string, CropOutcome>) =>
        all.map((j) => {
          const o = m.get(j.target)!;
          return 'hash' in o ? o.hash : null;
        });
      assert.deepEqual(clusterHashes(hashes(fast), 22), clusterHashes(hashes(slow), 22));
      assert.equal(hashDistance(hashes(fast)[0]!, hashes(fast)[jobs.length - 2]!), 0);
      // The fast path did run (it is not sharp under another name).
      const input = await fs.readFile(jobs[0]!.source);
      assert.ok(!('reason' in tj) && fastCropPixels(tj, input, jobs[0]!, settings));
    } finally {
      await cleanup();
    }
  },
);

test(
  'odd-sized JPEGs crop as with sharp; a PNG, an EXIF-rotated JPEG and one with an ICC profile go to sharp and still crop; a truncated JPEG gets the same one-line error',
  { skip },
  async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const source = path.join(utkfaceDir, pickUtkface(1, 5)[0]!.file);
      const src = path.join(dir, 'src');
      await fs.mkdir(src);
      const wide = sharp(source).resize(200, 120, { fit: 'fill' });
      const files: Record<string, Buffer> = {
        'photo.png': await wide.clone().png().toBuffer(),
        'rotated.jpg': await wide.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer(),
        'icc.jpg': await wide.clone().jpeg().withIccProfile('p3').toBuffer(),
        'truncated.jpg': (await fs.readFile(source)).subarray(0, 3000),
        'plain.jpg': await wide.clone().jpeg().toBuffer(),
        // Odd sizes: libjpeg's scaled decode rounds up, libvips keeps the rounded-down part (4x, then 8x).
        'odd.jpg': await sharp(source).resize(333, 517, { fit: 'fill' }).jpeg().toBuffer(),
        'big.jpg': await sharp(source).resize(1001, 703, { fit: 'fill' }).jpeg().toBuffer(),
      };
      for (const [name, bytes] of Object.entries(files)) await fs.writeFile(path.join(src, name), bytes);
      const jobs = Object.keys(files).map((name) => ({ source: path.join(src, name), target: name }));
      for (const job of jobs) {
        const fastPixels = !('reason' in tj) && fastCropPixels(tj, files[job.target]!, job, settings);
        assert.equal(
          Boolean(fastPixels),
          /plain|odd|big/.test(job.target),
          `${job.target}: fast path taken?`,
        );
      }
      const fast = await crop(path.join(dir, 'fast'), jobs, 'fast');
      const slow = await crop(path.join(dir, 'sharp'), jobs, 'sharp');
      for (const job of jobs)
        if (job.target !== 'truncated.jpg')
          assert.deepEqual(fast.get(job.target), slow.get(job.target), job.target);
      assert.equal(fast.get('truncated.jpg')!.status, 'unreadable');
      assert.equal(fast.get('rotated.jpg')!.status, 'written');
      // The truncated file alone (libvips words an error as "Unknown error" when pipelines run side by side).
      const cut = jobs.filter((j) => j.target === 'truncated.jpg');
      const fastCut = (await crop(path.join(dir, 'fast-cut'), cut, 'fast')).get('truncated.jpg')!;
      const slowCut = (await crop(path.join(dir, 'sharp-cut'), cut, 'sharp')).get('truncated.jpg')!;
      assert.deepEqual(fastCut, slowCut);
      assert.deepEqual(fastCut, { status: 'unreadable', reason: 'VipsJpeg: premature end of JPEG image' });
      // The rotated crop is the plain one turned: sharp applied the EXIF orientation.
      const rotated = await sharp(path.join(dir, 'fast', 'rotated.jpg')).metadata();
      assert.equal(rotated.width, 64);
    } finally {
      await cleanup();
    }
  },
);
