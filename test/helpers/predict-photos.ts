import path from 'node:path';
import sharp, { type OverlayOptions, type Sharp } from 'sharp';
import type { Box } from '../../src/infer/types.js';
import { pickUtkface, utkfaceDir, type UtkSample } from './fixtures.js';

/**
 * "Group photos" for detection tests and benches: real UTKFace crops, resized to varied sizes, pasted
 * at known places on a larger plain or noisy background. The placed square of each crop is the ground
 * truth; a detector's box maps onto it through the calibrated crop rule (src/infer/crop-rule.ts).
 * Built in memory from ../shared; nothing is copied into the repo.
 */
export interface PlacedFace extends UtkSample {
  /** Where the whole (square) training crop was pasted, in photo pixels. */
  region: Box;
}

export interface GroupPhoto {
  /** Encoded JPEG. */
  jpeg: Buffer;
  width: number;
  height: number;
  faces: PlacedFace[];
}

export interface GroupPhotoOptions {
  /** Side in pixels of each pasted crop, left to right. */
  sizes: number[];
  samples: UtkSample[];
  width?: number;
  height?: number;
  background?: 'plain' | 'noise';
  seed?: number;
}

/** Small deterministic PRNG (mulberry32) so a fixture is the same on every run and machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function makeGroupPhoto(opts: GroupPhotoOptions): Promise<GroupPhoto> {
  const width = opts.width ?? 960;
  const height = opts.height ?? 640;
  const rand = rng(opts.seed ?? 1);
  const n = opts.sizes.length;
  let base: Sharp;
  if ((opts.background ?? 'noise') === 'noise') {
    // Blurred colour noise: texture for the detector to reject, not a flat colour it never sees in photos.
    const noise = Buffer.alloc(width * height * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(rand() * 256);
    base = sharp(
      await sharp(noise, { raw: { width, height, channels: 3 } })
        .blur(2)
        .raw()
        .toBuffer(),
      {
        raw: { width, height, channels: 3 },
      },
    );
  } else {
    const c = () => 60 + Math.floor(rand() * 140);
    base = sharp({ create: { width, height, channels: 3, background: { r: c(), g: c(), b: c() } } });
  }
  // One column per face, each face at a random place inside its column: they never overlap.
  const colW = width / n;
  const faces: PlacedFace[] = [];
  const layers: OverlayOptions[] = [];
  for (let i = 0; i < n; i++) {
    const size = opts.sizes[i]!;
    if (size > colW || size > height)
      throw new Error(`face ${size}px does not fit a ${colW}x${height} column`);
    const x = Math.round(i * colW + rand() * (colW - size));
    const y = Math.round(rand() * (height - size));
    const sample = opts.samples[i % opts.samples.length]!;
    const input = await sharp(path.join(utkfaceDir, sample.file)).resize(size, size).toBuffer();
    layers.push({ input, left: x, top: y });
    faces.push({ ...sample, region: { x, y, w: size, h: size } });
  }
  const jpeg = await base.composite(layers).jpeg({ quality: 90 }).toBuffer();
  return { jpeg, width, height, faces };
}

/**
 * A set of group photos with 3-4 faces each, sizes 64-232 px, alternating noisy and plain backgrounds.
 * `offset` picks other UTKFace crops than the calibration or golden sets.
 */
export async function makeGroupPhotos(count: number, offset = 7): Promise<GroupPhoto[]> {
  const sizeSets = [
    [96, 160, 224],
    [72, 128, 192, 232],
    [64, 112, 176],
    [200, 88, 144, 120],
  ];
  const samples = pickUtkface(count * 4, offset);
  const photos: GroupPhoto[] = [];
  for (let p = 0; p < count; p++) {
    const sizes = sizeSets[p % sizeSets.length]!;
    photos.push(
      await makeGroupPhoto({
        sizes,
        samples: samples.slice(p * 4, p * 4 + sizes.length),
        background: p % 2 ? 'plain' : 'noise',
        seed: 100 + p,
      }),
    );
  }
  return photos;
}
