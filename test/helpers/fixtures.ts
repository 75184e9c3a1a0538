import { promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseUtkfaceName } from '../../src/data/datasets/utkface.js';
import { labelsCsvText } from '../../src/data/labels-csv.js';

/** Repository root (this file is test/helpers/fixtures.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The read-only data folder that sits beside the clone (CI lays it there too). */
export const sharedDir = process.env.AGEGENDER_SHARED ?? path.resolve(repoRoot, '..', 'shared');
export const utkfaceDir = path.join(sharedDir, 'data', 'utkface');
export const wikiMatPath = path.join(sharedDir, 'data', 'imdb-wiki', 'wiki.mat');

export interface UtkSample {
  file: string;
  age: number;
  /** Seed convention: 1 = male, 0 = female (UTKFace names use 0 = male). */
  gender: 0 | 1;
}

/**
 * A deterministic selection of well-formed UTKFace crops, spread over the sorted listing so that ages
 * and genders vary. Never copies images: callers read them from `utkfaceDir`.
 */
export function pickUtkface(count: number, offset = 0): UtkSample[] {
  const names = readdirSync(utkfaceDir)
    .filter((n) => parseUtkfaceName(n).ok)
    .sort();
  const stride = Math.max(1, Math.floor(names.length / count));
  const out: UtkSample[] = [];
  for (let i = 0; i < count; i++) {
    const name = names[(offset + i * stride) % names.length]!;
    const label = parseUtkfaceName(name) as { age: number; gender: 0 | 1 };
    out.push({ file: name, age: label.age, gender: label.gender });
  }
  return out;
}

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(
  prefix = 'agegender-test-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** Writes a seed-schema CSV (`filename,age,gender`) for the samples; filenames relative to utkfaceDir. */
export async function writeLabelsCsv(file: string, samples: UtkSample[]): Promise<void> {
  await fs.writeFile(
    file,
    labelsCsvText(samples.map((s) => ({ filename: s.file, age: s.age, gender: s.gender }))),
  );
}
