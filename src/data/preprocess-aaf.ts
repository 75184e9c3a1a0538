import path from 'node:path';
import { listAaf } from './aaf.js';
import type { SquareRegion } from './image.js';
import { prepareDataset, type LabelledSource, type PreprocessSummary } from './prepare-dataset.js';
import type { CommonPreprocessOptions } from './preprocess-options.js';

/**
 * Frames each photo's face (e.g. with the face detector and crop rule predict uses); rows it cannot frame
 * are dropped and counted. Passed in by the command, so that data/ does not depend on the detector.
 */
export type Framer = (rows: LabelledSource[]) => Promise<{
  rows: (LabelledSource & { region: SquareRegion })[];
  counts: Record<string, number>;
  id: string;
}>;

/**
 * All-Age-Faces: labels from names (age) and the id range / lists (gender). AAF has no identity labels, so
 * each photo is its own split group; its copies (some with conflicting labels) are found by the duplicate
 * pass of prepareDataset. Its head-and-shoulders framing differs from UTKFace's tight chips: with a
 * `framer` the crops are cut the way predict cuts detected faces; without one, the whole photo is used.
 */
export async function preprocessAaf(
  photoDir: string,
  opts: CommonPreprocessOptions,
  framer?: Framer,
): Promise<PreprocessSummary> {
  const listing = await listAaf(photoDir);
  let rows: LabelledSource[] = listing.samples.map((s) => ({
    source: path.join(listing.faceDir, s.name),
    filename: s.name,
    age: s.age,
    gender: s.gender,
    identity: s.name,
  }));
  let framing: Record<string, number> = {};
  let crop = opts.crop;
  if (framer && !opts.labelsOnly) {
    const framed = await framer(rows);
    rows = framed.rows;
    framing = framed.counts;
    crop = { ...crop, framing: framed.id };
  }
  return prepareDataset(rows, {
    ...opts,
    crop,
    dataset: 'aaf',
    counts: { ...listing.counts, ...framing },
    input: {
      photoDir: path.resolve(photoDir),
      malformedNames: listing.malformed,
      framing: crop.framing ?? 'whole photo',
    },
  });
}
