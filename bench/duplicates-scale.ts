/**
 * Duplicate detection as the set grows: src/data/duplicates.ts's index (multi-index hashing) on synthetic
 * 256-bit hashes, a third of them near-copies of earlier ones (1-30 bits flipped), at the default distance
 * 22. Each size runs in its own process so that its peak memory (max RSS) is its own. At 20k the
 * all-pairs clustering runs too, and the clusters must be identical.
 *
 *   npx tsx bench/duplicates-scale.ts [--sizes 20000,100000,500000]
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clusterHashes, DEFAULT_MAX_DISTANCE } from '../src/data/duplicates.js';
import { clusterAllPairs, syntheticHashes } from '../test/helpers/duplicates-reference.js';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '20000,100000,500000' }, one: { type: 'string' } },
});

if (values.one) {
  const n = Number(values.one);
  const hashes = syntheticHashes(n, 30, 1);
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  const clusters = clusterHashes(hashes, DEFAULT_MAX_DISTANCE);
  const seconds = (performance.now() - t0) / 1000;
  const members = new Map<number, number>();
  for (const c of clusters) members.set(c, (members.get(c) ?? 0) + 1);
  const multi = [...members.values()].filter((m) => m > 1);
  const result: Record<string, unknown> = {
    n,
    seconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    hashesMiB: before / 2 ** 20,
    clusters: multi.length,
    inClusters: multi.reduce((a, b) => a + b, 0),
  };
  if (n <= 20000) {
    const t1 = performance.now();
    const reference = clusterAllPairs(hashes, DEFAULT_MAX_DISTANCE);
    result.allPairsSeconds = (performance.now() - t1) / 1000;
    result.sameAsAllPairs = reference.every((c, i) => c === clusters[i]);
  }
  console.log(JSON.stringify(result));
} else {
  const self = fileURLToPath(import.meta.url);
  console.log(`duplicate clustering, distance ${DEFAULT_MAX_DISTANCE}, ${os.cpus()[0]?.model}, 1 thread`);
  console.log('hashes    index s   peak RSS MiB   clusters (images)   all pairs s   same clusters');
  for (const n of values.sizes!.split(',').map(Number)) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--one', String(n)], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number | boolean>;
    console.log(
      `${String(n).padStart(7)}  ${(r.seconds as number).toFixed(2).padStart(8)}  ` +
        `${(r.peakRssMiB as number).toFixed(0).padStart(13)}  ` +
        `${`${r.clusters} (${r.inClusters})`.padStart(18)}  ` +
        `${r.allPairsSeconds === undefined ? '-'.padStart(12) : (r.allPairsSeconds as number).toFixed(2).padStart(12)}` +
        `  ${r.sameAsAllPairs ?? '-'}`,
    );
  }
}
