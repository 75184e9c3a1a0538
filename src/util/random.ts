/**
 * mulberry32: a tiny, well-known 32-bit PRNG (state = one integer). Enough for shuffling and augmentation,
 * and identical on every platform, so a seed reproduces a split or a data order anywhere.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Shuffles `a` in place (Fisher-Yates, from the end) with `rand`, and returns it. Every seeded order in the
 * project (splits, epochs, folds) draws through this one loop, so a seed gives the same order everywhere.
 */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(
  a: T,
  rand: () => number,
): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** 0, 1, ..., n - 1 in a seeded random order: the epoch orders and the audit's fold deal. */
export function shuffledRange(n: number, rand: () => number): Uint32Array {
  return shuffleInPlace(
    Uint32Array.from({ length: n }, (_, i) => i),
    rand,
  );
}
