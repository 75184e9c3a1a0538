import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FileReadError, UserError } from '../../util/errors.js';
import { readRegularFile } from '../../util/regular-file.js';
import type { LabelledSource } from '../prepare-dataset.js';
import { defineDataset, requirePhotoDir } from './dataset.js';

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

/** A list's labels, or null when the dataset has no such file. */
async function readList(file: string): Promise<Map<string, 0 | 1> | null> {
  const labels = new Map<string, 0 | 1>();
  let text: string;
  try {
    text = (await readRegularFile(file)).toString('utf8');
  } catch (err) {
    if (err instanceof FileReadError && err.code === 'ENOENT') return null;
    throw err;
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
export async function listAaf(dir: string): Promise<AafListing & { faceDir: string; warnings: string[] }> {
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
  const lists = [await readList(path.join(dir, 'train.txt')), await readList(path.join(dir, 'val.txt'))];
  const [train, val] = lists.map((l) => l ?? new Map<string, 0 | 1>()) as [
    Map<string, 0 | 1>,
    Map<string, 0 | 1>,
  ];
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
  // Without the lists, gender rests on the id range alone: say so rather than count every file "unlisted".
  const absent = ['train.txt', 'val.txt'].filter((_, i) => !lists[i]);
  const warnings = absent.length
    ? [
        `${path.join(dir, absent[0]!)}${absent.length > 1 ? ' and val.txt' : ''} not found: genders come ` +
          "from the id range alone, unchecked against the dataset's lists",
      ]
    : [];
  return { ...out, faceDir, warnings };
}

/**
 * All-Age-Faces: ages from the names, gender from the id range (checked against train.txt / val.txt).
 * With a framing, faces are found by the detector and crops cut the way predict cuts detected faces;
 * 'whole' uses the photo as it is.
 */
export const aaf = defineDataset({
  name: 'aaf',
  description: 'All-Age-Faces: faces/NNNNNAaa.jpg (aa = age), gender from the id range and train/val.txt',
  options: {
    photoDir: {
      type: 'path',
      required: true,
      arg: 'dir',
      help: 'the AAF folder (holding faces/, train.txt, val.txt) or faces/ itself',
    },
    framing: {
      type: 'choice',
      choices: ['detector', 'median', 'whole'],
      default: 'detector',
      arg: 'how',
      help:
        "'detector': the detector + predict's crop rule on every photo, so each crop is framed as predict " +
        "frames that face (~0.15 s a photo); 'median': the same on --framing-sample photos, their median " +
        "region applied to all (fast; for photos aligned alike); 'whole': the photo as it is",
    },
    framingSample: {
      type: 'int',
      min: 1,
      max: 100000,
      default: 300,
      help: 'photos the median framing is measured on',
    },
    detector: {
      type: 'choice',
      choices: ['ssd-mobilenetv1', 'tiny-face-detector'],
      default: 'ssd-mobilenetv1',
      help: 'face detector of the framing',
    },
    minScore: {
      type: 'number',
      min: 0.01,
      max: 0.99,
      arg: 's',
      help: 'detector confidence threshold',
      defaultHelp: "the detector's own, as predict",
    },
  },
  async read(opts, ctx) {
    await requirePhotoDir(opts.photoDir, false); // the names are the labels
    const listing = await listAaf(opts.photoDir);
    if (listing.counts.read === 0)
      throw new UserError(`${listing.faceDir}: no files in the photo folder (expected faces/NNNNNAaa.jpg)`);
    if (listing.samples.length === 0)
      throw new UserError(
        `${listing.faceDir}: none of its ${listing.counts.read} files is named like an AAF face (NNNNNAaa.jpg)`,
      );
    let rows: LabelledSource[] = listing.samples.map((s) => ({
      source: path.join(listing.faceDir, s.name),
      filename: s.name,
      age: s.age,
      gender: s.gender,
      identity: s.name,
    }));
    let counts: Record<string, number> = listing.counts;
    let framing: string | undefined;
    if (opts.framing !== 'whole' && !ctx.labelsOnly) {
      const framed = await ctx.frameFaces(rows, {
        how: opts.framing,
        sample: opts.framingSample,
        detector: opts.detector,
        minScore: opts.minScore,
        cacheFile: path.join(ctx.outputDir, '.face-regions.json'),
        quiet: ctx.quiet,
      });
      rows = framed.rows;
      counts = { ...counts, ...framed.counts };
      framing = framed.id;
    }
    return {
      rows,
      counts,
      warnings: listing.warnings,
      crop: framing ? { framing } : undefined,
      input: {
        photoDir: path.resolve(opts.photoDir),
        malformedNames: listing.malformed,
        framing: framing ?? 'whole photo',
      },
    };
  },
});
