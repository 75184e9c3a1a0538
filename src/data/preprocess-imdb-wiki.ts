import path from 'node:path';
import { applyImdbWikiRules, readImdbWiki } from './imdb-wiki.js';
import { prepareDataset, type LabelledSource, type PreprocessSummary } from './prepare-dataset.js';
import type { CommonPreprocessOptions } from './preprocess-options.js';

/**
 * IMDB-WIKI: labels from imdb.mat / wiki.mat with the seed's rules (see applyImdbWikiRules), split by
 * identity (celeb_id or name), crops from `<photo-dir>/<full_path>` or, with a margin, re-cropped from
 * face_location. With `labelsOnly` the images are not read at all (the CSVs name crops that do not exist).
 */
export async function preprocessImdbWiki(
  dbPath: string,
  photoDir: string | undefined,
  minScore: number,
  opts: CommonPreprocessOptions,
): Promise<PreprocessSummary> {
  const table = await readImdbWiki(dbPath);
  const rules = applyImdbWikiRules(table, minScore);
  const rows: LabelledSource[] = rules.kept.map(({ index, age, gender }) => ({
    source: path.join(photoDir ?? '', table.fullPath[index]!),
    filename: table.fullPath[index]!,
    age,
    gender,
    identity: table.identity[index]!,
    box: table.faceLocation[index] ?? undefined,
  }));
  return prepareDataset(rows, {
    ...opts,
    dataset: 'imdb-wiki',
    counts: {
      read: table.rows,
      droppedFaceScore: rules.dropped.faceScore,
      droppedSecondFace: rules.dropped.secondFace,
      droppedAge: rules.dropped.age,
      droppedGender: rules.dropped.gender,
    },
    input: {
      dbPath: path.resolve(dbPath),
      struct: table.source,
      photoDir: photoDir ? path.resolve(photoDir) : null,
      minScore,
      identityColumn: table.identity[0]?.startsWith('celeb:') ? 'celeb_id' : 'name',
      rules:
        'keep face_score >= min-score, second_face_score NaN or <= 0, 0 <= age <= 100, gender 0/1; ' +
        'age = photo_taken - birth year - (birth month >= 7); dropped rows count under the first rule they fail',
      rowsFailingEachRule: rules.failing,
    },
  });
}
