import path from 'node:path';
import { listUtkface } from './utkface.js';
import { prepareDataset, type PreprocessSummary } from './prepare-dataset.js';
import type { CommonPreprocessOptions } from './preprocess-options.js';

/**
 * UTKFace: labels come from the file names; malformed names and ages above 100 are skipped and counted.
 * UTKFace has no identity labels, so each image is its own group in the split.
 */
export async function preprocessUtkface(
  photoDir: string,
  opts: CommonPreprocessOptions,
): Promise<PreprocessSummary> {
  const listing = await listUtkface(photoDir);
  const rows = listing.samples
    .filter((s) => s.age <= 100)
    .map((s) => ({
      source: path.join(photoDir, s.name),
      filename: s.name,
      age: s.age,
      gender: s.gender,
      identity: s.name,
    }));
  return prepareDataset(rows, {
    ...opts,
    dataset: 'utkface',
    counts: {
      read: listing.samples.length + listing.malformed.length,
      malformed: listing.malformed.length,
      ageOver100: listing.samples.length - rows.length,
    },
    input: { photoDir: path.resolve(photoDir), malformedNames: listing.malformed.slice(0, 20) },
  });
}
