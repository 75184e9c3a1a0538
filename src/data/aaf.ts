import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.js';

/**
 * All-Age-Faces (Cheng et al.): `faces/NNNNNAaa.jpg`, where NNNNN is the image id and aa the age in years.
 * Gender is not in the name: the dataset's own lists (train.txt, val.txt: `NAME.jpg GENDER`, 1 = male,
 * 0 = female, the seed's convention) give it, and its README says ids 00000-07380 are female and
 * 07381-13321 male. A file whose list label disagrees with its id range is counted and skipped.
 */
const AAF_NAME = /^(\d{5})A(\d{2})\.jpg$/;
/** First male id, per the dataset's README. */
const FIRST_MALE_ID = 7381;

export interface AafSample {
  name: string;
  id: number;
  age: number;
  gender: 0 | 1;
  /** 'train' / 'val' per the dataset's own lists; null when the file is in neither. */
  officialSplit: 'train' | 'val' | null;
}

export interface AafListing {
  samples: AafSample[];
  counts: { read: number; malformed: number; genderConflict: number; unlisted: number };
  malformed: string[];
}

async function readList(file: string): Promise<Map<string, 0 | 1>> {
  const labels = new Map<string, 0 | 1>();
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return labels;
    throw new UserError(`${file}: cannot read: ${code ?? err}`);
  }
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (!line.trim()) continue;
    const m = /^(\S+)\s+([01])$/.exec(line.trim());
    if (!m) throw new UserError(`${file}:${i + 1}: expected "NAME.jpg GENDER" (0 or 1), got "${line}"`);
    labels.set(m[1]!, m[2] === '1' ? 1 : 0);
  }
  return labels;
}

/**
 * Lists an AAF folder: `dir/faces/*.jpg` (or the images directly in `dir`) plus `train.txt` / `val.txt`
 * beside `faces/` when present.
 */
export async function listAaf(dir: string): Promise<AafListing & { faceDir: string }> {
  const nested = path.join(dir, 'faces');
  const faceDir = (await fs.stat(nested).catch(() => null))?.isDirectory() ? nested : dir;
  let names: string[];
  try {
    names = (await fs.readdir(faceDir, { withFileTypes: true }))
      .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new UserError(
      `${faceDir}: cannot read the photo folder: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  const train = await readList(path.join(dir, 'train.txt'));
  const val = await readList(path.join(dir, 'val.txt'));
  const out: AafListing = {
    samples: [],
    counts: { read: names.length, malformed: 0, genderConflict: 0, unlisted: 0 },
    malformed: [],
  };
  for (const name of names) {
    const m = AAF_NAME.exec(name);
    if (!m) {
      out.counts.malformed++;
      if (out.malformed.length < 20) out.malformed.push(name);
      continue;
    }
    const id = Number(m[1]);
    const byId: 0 | 1 = id >= FIRST_MALE_ID ? 1 : 0;
    const listed = train.get(name) ?? val.get(name);
    if (listed === undefined) out.counts.unlisted++;
    else if (listed !== byId) {
      out.counts.genderConflict++;
      continue;
    }
    out.samples.push({
      name,
      id,
      age: Number(m[2]),
      gender: byId,
      officialSplit: train.has(name) ? 'train' : val.has(name) ? 'val' : null,
    });
  }
  return { ...out, faceDir };
}
