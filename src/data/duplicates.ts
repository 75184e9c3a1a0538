/**
 * Exact and near-duplicate images, found with a 256-bit difference hash (dHash: a 17x16 grey thumbnail,
 * one bit per horizontally adjacent pair, "is the left pixel brighter"). It survives re-encoding,
 * resizing and colour changes, which is what copies inside a face dataset differ by. The 64-bit dHash
 * (9x8) is too coarse for aligned faces: on 4,000 UTKFace crops it put hundreds of pairs of different
 * people within 4 bits. At 256 bits, copies (re-toned or re-encoded, checked by eye) sat at 0-22 bits
 * and the closest different people at 28 on UTKFace and AAF, hence DEFAULT_MAX_DISTANCE. The thumbnail
 * is now an area average in JS (pixelHash) rather than libvips' cubic resize: on 3,000 UTKFace crops the
 * copies sat at 0-21 bits and the nearest different faces at 30 or more, with the same 18 clusters at
 * 16, 22 and 28 bits as before.
 */
export const HASH_WORDS = 8;
export const DEFAULT_MAX_DISTANCE = 22;

export type ImageHash = Int32Array;

/** The hash of an image file or encoded buffer (decoded with EXIF orientation applied). */
export async function imageHash(input: string | Buffer): Promise<ImageHash> {
  // Imported here, not above: preprocess's crop threads use pixelHash and need not load libvips.
  const { default: sharp } = await import('sharp');
  const { data, info } = await sharp(input, { failOn: 'error' })
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return pixelHash(data, info.width, info.height);
}

/**
 * The hash of pixels already decoded (HWC uint8 RGB), in plain JS: preprocess hashes each crop from the
 * pixels it encodes, with no second decode and no second libvips pipeline (one cost ~4 ms a crop on a
 * busy machine, this ~0.04 ms). Grey is Rec. 601 luma; the 17x16 thumbnail averages the pixels each
 * cell covers (fractional edges weighted), so any image size works.
 */
export function pixelHash(rgb: Uint8Array, width: number, height: number): ImageHash {
  const W = 17;
  const H = 16;
  const cells = new Float64Array(W * H);
  const sx = width / W;
  const sy = height / H;
  for (let cy = 0; cy < H; cy++) {
    const y0 = cy * sy;
    const y1 = y0 + sy;
    for (let cx = 0; cx < W; cx++) {
      const x0 = cx * sx;
      const x1 = x0 + sx;
      let sum = 0;
      for (let y = Math.floor(y0); y < Math.ceil(y1); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.ceil(x1); x++) {
          const wx = Math.min(x + 1, x1) - Math.max(x, x0);
          const p = (y * width + x) * 3;
          sum += wx * wy * (0.299 * rgb[p]! + 0.587 * rgb[p + 1]! + 0.114 * rgb[p + 2]!);
        }
      }
      cells[cy * W + cx] = sum;
    }
  }
  const h = new Int32Array(HASH_WORDS);
  for (let y = 0; y < 16; y++)
    for (let x = 0; x < 16; x++) {
      const bit = y * 16 + x;
      if (cells[y * W + x]! > cells[y * W + x + 1]!) h[bit >> 5]! |= 1 << (bit & 31);
    }
  return h;
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Bits in which two hashes differ. */
export function hashDistance(a: ImageHash, b: ImageHash): number {
  let d = 0;
  for (let k = 0; k < HASH_WORDS; k++) d += popcount32(a[k]! ^ b[k]!);
  return d;
}

/**
 * Cluster index per item (the smallest index in its cluster) for hashes within `maxDistance` bits; items
 * whose hash is null (unreadable) are alone. Comparing all pairs is quadratic (IMDB-WIKI's ~520k faces
 * would be 1.4e11 pairs), so the hashes are indexed instead (multi-index hashing): the 256 bits are cut
 * into maxDistance + 1 chunks, and two hashes within maxDistance bits must agree exactly on at least one
 * chunk (pigeonhole), so only hashes sharing a chunk value are compared. Same clusters as all pairs.
 */
export function clusterHashes(hashes: readonly (ImageHash | null)[], maxDistance: number): Int32Array {
  const n = hashes.length;
  const flat = new Int32Array(n * HASH_WORDS);
  hashes.forEach((h, i) => h && flat.set(h, i * HASH_WORDS));
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const compare = (i: number, j: number) => {
    const a = i * HASH_WORDS;
    const b = j * HASH_WORDS;
    let d = 0;
    for (let k = 0; k < HASH_WORDS && d <= maxDistance; k++) d += popcount32(flat[a + k]! ^ flat[b + k]!);
    if (d > maxDistance) return;
    const ri = find(i);
    const rj = find(j);
    if (ri !== rj) parent[Math.max(ri, rj)] = Math.min(ri, rj);
  };
  const live = Int32Array.from(hashes.flatMap((h, i) => (h ? [i] : [])));
  // At least maxDistance + 1 chunks (the pigeonhole); more when that leaves chunks over 16 bits, so the
  // bucket table stays small (any number above maxDistance keeps the guarantee).
  const bits = HASH_WORDS * 32;
  const chunks = Math.max(maxDistance + 1, bits / 16);
  if (chunks > bits / 4) {
    // Chunks under 4 bits index nothing: compare all pairs.
    for (let x = 0; x < live.length; x++)
      for (let y = x + 1; y < live.length; y++) compare(live[x]!, live[y]!);
  } else {
    const order = new Int32Array(live.length);
    const keys = new Int32Array(live.length);
    for (let c = 0, start = 0; c < chunks; c++) {
      const width = Math.floor(bits / chunks) + (c < bits % chunks ? 1 : 0);
      const counts = new Int32Array((1 << width) + 1);
      for (let x = 0; x < live.length; x++) {
        const key = chunkOf(flat, live[x]! * HASH_WORDS, start, width);
        keys[x] = key;
        counts[key + 1]!++;
      }
      for (let k = 1; k < counts.length; k++) counts[k]! += counts[k - 1]!;
      const next = counts.slice();
      for (let x = 0; x < live.length; x++) order[next[keys[x]!]!++] = live[x]!;
      // Compare within each bucket (items sharing this chunk's value).
      for (let k = 0; k + 1 < counts.length; k++)
        for (let x = counts[k]!; x < counts[k + 1]!; x++)
          for (let y = x + 1; y < counts[k + 1]!; y++) compare(order[x]!, order[y]!);
      start += width;
    }
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = find(i);
  return out;
}

/** Bits [start, start + width) of the hash at flat[at..] (width <= 31; may span two words). */
function chunkOf(flat: Int32Array, at: number, start: number, width: number): number {
  const word = start >>> 5;
  const shift = start & 31;
  let v = flat[at + word]! >>> shift;
  if (shift + width > 32) v |= flat[at + word + 1]! << (32 - shift);
  return (v & ((1 << width) - 1)) >>> 0;
}

export interface DuplicateOptions {
  /** Hash bits that may differ between near-duplicates (0 = byte-level copies and re-encodes only). */
  maxDistance: number;
  /** Largest age difference (years) within a cluster that still counts as the same label. */
  ageTolerance: number;
}

export interface DuplicateReport<T> {
  /** Rows to keep, each with the group id that keeps its cluster on one side of the split. */
  kept: { row: T; group: string }[];
  counts: {
    /** Clusters of two or more images. */
    clusters: number;
    /** Images in those clusters. */
    duplicateImages: number;
    /** Clusters dropped because their labels disagree (gender, or age beyond the tolerance). */
    conflictingClusters: number;
    /** Images dropped with them. */
    droppedConflicting: number;
  };
  /** Up to 20 dropped clusters, for the summary. */
  examples: { files: string[]; ages: number[]; genders: number[] }[];
}

/**
 * Finds duplicate clusters among `rows`, drops the clusters whose labels disagree, and gives every kept
 * row a split group: its cluster's first member's group, so all copies land in the same split part.
 */
export function resolveDuplicates<T extends { age: number; gender: 0 | 1; filename: string }>(
  rows: readonly T[],
  hashes: readonly (ImageHash | null)[],
  groupOf: (row: T) => string,
  opts: DuplicateOptions,
): DuplicateReport<T> {
  const cluster = clusterHashes(hashes, opts.maxDistance);
  const members = new Map<number, number[]>();
  cluster.forEach((c, i) => {
    const list = members.get(c);
    if (list) list.push(i);
    else members.set(c, [i]);
  });
  const report: DuplicateReport<T> = {
    kept: [],
    counts: { clusters: 0, duplicateImages: 0, conflictingClusters: 0, droppedConflicting: 0 },
    examples: [],
  };
  const dropped = new Uint8Array(rows.length);
  for (const list of members.values()) {
    if (list.length < 2) continue;
    report.counts.clusters++;
    report.counts.duplicateImages += list.length;
    const ages = list.map((i) => rows[i]!.age);
    const genders = list.map((i) => rows[i]!.gender);
    const conflict = new Set(genders).size > 1 || Math.max(...ages) - Math.min(...ages) > opts.ageTolerance;
    if (!conflict) continue;
    report.counts.conflictingClusters++;
    report.counts.droppedConflicting += list.length;
    for (const i of list) dropped[i] = 1;
    if (report.examples.length < 20)
      report.examples.push({ files: list.map((i) => rows[i]!.filename), ages, genders });
  }
  rows.forEach((row, i) => {
    if (!dropped[i]) report.kept.push({ row, group: groupOf(rows[cluster[i]!]!) });
  });
  return report;
}
