/**
 * images/s of `agegender preprocess utkface` (all cores) against the seed's OpenCV loop
 * (cv2.imread + cv2.resize + cv2.imwrite, Debian's python3-opencv) on the same UTKFace files, in one run.
 * CPU time per image (all threads and processes) is printed too: on a shared machine it moves less than
 * the rates, and the scheduler gives each session one share however many threads it runs, so only a
 * quiet machine shows what the cores add.
 *
 *   npx tsx bench/preprocess-vs-opencv.ts [--limit 5000] [--size 64]
 *   AGEGENDER_JPEG=sharp npx tsx bench/preprocess-vs-opencv.ts     # every crop with sharp, to compare
 *
 * Ours runs the crop path preprocess picks (docs/preprocess.md), named in its line: the fast path
 * (libturbojpeg + our port of libvips's shrink, in the main thread and a worker thread per further core,
 * sharp for files it leaves) when Debian's libturbojpeg0 is installed, else sharp for every crop.
 * Needs /usr/bin/python3 with cv2 (apt-get install python3-opencv). Both write JPEG quality 95; ours
 * resizes with lanczos3 (cover), the seed's cv2.resize is bilinear (a stretch, same here on square crops). */
import { execFileSync } from 'node:child_process';
import { promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { preprocessUtkface } from '../src/api/preprocess.js';
import { loadTurboJpeg } from '../src/data/jpeg-turbo.js';
import { parseUtkfaceName } from '../src/data/datasets/utkface.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const utk = path.resolve(here, '..', '..', 'shared', 'data', 'utkface');
const { values } = parseArgs({
  options: { limit: { type: 'string', default: '5000' }, size: { type: 'string', default: '64' } },
});
const limit = Number(values.limit);
const size = Number(values.size);

const names = readdirSync(utk)
  .filter((n) => parseUtkfaceName(n).ok)
  .sort()
  .slice(0, limit);
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-preprocess-'));
try {
  const photos = path.join(work, 'photos');
  await fs.mkdir(photos);
  for (const n of names) await fs.symlink(path.join(utk, n), path.join(photos, n));
  const list = path.join(work, 'list.txt');
  await fs.writeFile(list, names.join('\n'));

  // The whole command, duplicate detection and the CSVs included (the crops' own rate leaves those out).
  const t0 = performance.now();
  const c0 = process.cpuUsage(); // all threads of this process: the crop workers too
  const ours = await preprocessUtkface({
    photoDir: photos,
    outputDir: path.join(work, 'ours'),
    imgSize: size,
  });
  const total = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const oursCpuMs = (cpu.user + cpu.system) / 1000 / names.length;
  const py = (procs: number) =>
    JSON.parse(
      execFileSync(
        '/usr/bin/python3',
        [
          path.join(here, 'preprocess-vs-opencv.py'),
          list,
          photos,
          path.join(work, `cv${procs}`),
          String(size),
          String(procs),
        ],
        {
          encoding: 'utf8',
        },
      ),
    ) as { images: number; seconds: number; imagesPerSecond: number; cpuSeconds: number };
  const seed = py(1);
  const pool = py(os.availableParallelism());
  const oursRate = Math.round((names.length / total) * 10) / 10;
  const cpuMs = (r: { cpuSeconds: number }) => ((r.cpuSeconds * 1000) / names.length).toFixed(3);
  console.log(`${names.length} UTKFace images -> ${size}x${size} JPEG, ${os.availableParallelism()} cores`);
  const tj = loadTurboJpeg();
  const way = 'reason' in tj ? `sharp: ${tj.reason}` : 'libturbojpeg fast path';
  console.log(
    `agegender preprocess (${way}, dedup on): ${oursRate} images/s (${total.toFixed(2)}s; crops alone ${ours.crops!.imagesPerSecond} images/s)`,
  );
  console.log(`seed loop cv2 imread/resize/imwrite:   ${seed.imagesPerSecond} images/s (${seed.seconds}s)`);
  console.log(
    `same cv2 loop, ${os.availableParallelism()}-process pool:         ${pool.imagesPerSecond} images/s (${pool.seconds}s)`,
  );
  console.log(
    `ratio ours / seed loop: ${(oursRate / seed.imagesPerSecond).toFixed(2)}x; ours / cv2 pool: ${(oursRate / pool.imagesPerSecond).toFixed(2)}x`,
  );
  console.log(
    `CPU ms per image (all threads): ours ${oursCpuMs.toFixed(3)}, seed loop ${cpuMs(seed)}, cv2 pool ${cpuMs(pool)}`,
  );
} finally {
  await fs.rm(work, { recursive: true, force: true });
}
