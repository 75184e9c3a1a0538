import { hashDistance, type ImageHash } from '../../src/data/duplicates.js';

/**
 * The obvious quadratic clustering: every pair compared, union-find, each item labelled with the smallest
 * index in its cluster. What src/data/duplicates.ts's index must reproduce exactly.
 */
export function clusterAllPairs(hashes: readonly (ImageHash | null)[], maxDistance: number): Int32Array {
  const n = hashes.length;
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const a = hashes[i];
      const b = hashes[j];
      if (!a || !b || hashDistance(a, b) > maxDistance) continue;
      const ri = find(i);
      const rj = find(j);
      if (ri !== rj) parent[Math.max(ri, rj)] = Math.min(ri, rj);
    }
  return Int32Array.from({ length: n }, (_, i) => find(i));
}

/**
 * `n` random 256-bit hashes in which about a third are near-copies of an earlier one (1 to `spread` bits
 * flipped), some chained so that clusters grow through intermediates, with a seeded generator.
 */
export function syntheticHashes(n: number, spread: number, seed = 1): Int32Array[] {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const out: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const h = new Int32Array(8);
    if (i > 0 && rand() < 0.33) {
      h.set(out[Math.floor(rand() * i)]!);
      const flips = 1 + Math.floor(rand() * spread);
      for (let f = 0; f < flips; f++) {
        const bit = Math.floor(rand() * 256);
        h[bit >> 5]! ^= 1 << (bit & 31);
      }
    } else for (let k = 0; k < 8; k++) h[k] = (rand() * 2 ** 32) | 0;
    out.push(h);
  }
  return out;
}
