import path from 'node:path';
import { confinedPath } from '../util/confine.js';
import { assertNotAnOutput } from './output-set.js';
import { applyImdbWikiRules, readImdbWiki, type ImdbWikiTable, type RuleResult } from './imdb-wiki.js';
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
  await assertNotAnOutput(opts.outputDir, [{ flag: '--db-path', file: dbPath }]);
  const table = await readImdbWiki(dbPath);
  const rules = applyImdbWikiRules(table, minScore);
  const { rows, outside } = imdbWikiRows(table, rules, photoDir ?? '.');
  return prepareDataset(rows, {
    ...opts,
    dataset: 'imdb-wiki',
    counts: {
      read: table.rows,
      droppedFaceScore: rules.dropped.faceScore,
      droppedSecondFace: rules.dropped.secondFace,
      droppedAge: rules.dropped.age,
      droppedGender: rules.dropped.gender,
      badPath: outside.length,
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
      pathsOutsidePhotoDir: outside.slice(0, 20),
    },
  });
}

/**
 * The kept rows as crop jobs. A full_path is both read (under the photo folder) and written (under
 * crop/), so one that leads out of its folder (`../x`, `/etc/x`) is skipped and reported, never followed.
 */
export function imdbWikiRows(
  table: ImdbWikiTable,
  rules: RuleResult,
  photoDir: string,
): { rows: LabelledSource[]; outside: string[] } {
  const rows: LabelledSource[] = [];
  const outside: string[] = [];
  for (const { index, age, gender } of rules.kept) {
    const listed = table.fullPath[index]!;
    const source = confinedPath(photoDir, listed);
    // The crop keeps the listed name, so it must also stay inside crop/ (any folder will do to check).
    if (!source || !confinedPath('/crop', listed)) {
      outside.push(listed);
      continue;
    }
    rows.push({
      source,
      filename: path.relative(path.resolve(photoDir), source).split(path.sep).join('/'),
      age,
      gender,
      identity: table.identity[index]!,
      box: table.faceLocation[index] ?? undefined,
    });
  }
  return { rows, outside };
}
