import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.js';
import { defineDataset, requirePhotoDir } from './dataset.js';

/**
 * UTKFace names are `age_gender_race_datetime.jpg.chip.jpg` (gender 0 = male, 1 = female; race 0..4; the
 * datetime has 16 to 18 digits in the real set).
 * Anything else, e.g. a missing field or a stray space, is malformed: its labels cannot be trusted.
 */
const UTK_NAME = /^(\d+)_([01])_(\d)_(\d+)\.jpg\.chip\.jpg$/;

export type UtkName =
  | { ok: true; age: number; /** seed convention: 1 = male, 0 = female */ gender: 0 | 1; race: number }
  | { ok: false; reason: string };

export function parseUtkfaceName(name: string): UtkName {
  const m = UTK_NAME.exec(name);
  if (!m) return { ok: false, reason: 'name is not age_gender_race_datetime.jpg.chip.jpg' };
  return { ok: true, age: Number(m[1]), gender: m[2] === '0' ? 1 : 0, race: Number(m[3]) };
}

export interface UtkListing {
  /** Well-formed names with their labels, sorted by name. */
  samples: { name: string; age: number; gender: 0 | 1 }[];
  /** Names that do not follow the UTKFace pattern (skipped). */
  malformed: string[];
}

/** Lists a UTKFace folder (flat, as distributed) and reads the labels from the file names. */
export async function listUtkface(dir: string): Promise<UtkListing> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new UserError(
      `${dir}: cannot read the photo folder: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  const out: UtkListing = { samples: [], malformed: [] };
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!(e.isFile() || e.isSymbolicLink()) || e.name.startsWith('.')) continue;
    const parsed = parseUtkfaceName(e.name);
    if (parsed.ok) out.samples.push({ name: e.name, age: parsed.age, gender: parsed.gender });
    else out.malformed.push(e.name);
  }
  return out;
}

/**
 * UTKFace: labels come from the file names; malformed names and ages above 100 are skipped and counted.
 * UTKFace has no identity labels, so each image is its own group in the split.
 */
export const utkface = defineDataset({
  name: 'utkface',
  description: 'UTKFace: labels from the names age_gender_race_datetime.jpg.chip.jpg',
  options: {
    photoDir: { type: 'path', required: true, arg: 'dir', help: 'folder of UTKFace crops' },
  },
  async read(opts) {
    await requirePhotoDir(opts.photoDir, false); // the names are the labels
    const listing = await listUtkface(opts.photoDir);
    const rows = listing.samples
      .filter((s) => s.age <= 100)
      .map((s) => ({
        source: path.join(opts.photoDir, s.name),
        filename: s.name,
        age: s.age,
        gender: s.gender,
        identity: s.name,
      }));
    return {
      rows,
      counts: {
        read: listing.samples.length + listing.malformed.length,
        malformed: listing.malformed.length,
        ageOver100: listing.samples.length - rows.length,
      },
      input: { photoDir: path.resolve(opts.photoDir), malformedNames: listing.malformed.slice(0, 20) },
    };
  },
});
