import path from 'node:path';
import { confinedPath } from '../../util/confine.js';
import {
  applyImdbWikiRules,
  readImdbWiki,
  type ImdbWikiTable,
  type RuleResult,
} from '../formats/imdb-wiki-table.js';
import type { LabelledSource } from '../prepare-dataset.js';
import { defineDataset, requirePhotoDir } from './dataset.js';

/** Where `agegender download` fetches the face-crop archives from (the IMDB-WIKI site). */
export const IMDB_WIKI_URL_BASE = 'https://data.vision.ee.ethz.ch/cvl/rrothe/imdb-wiki/static';
/** The two archives, by the name `download` takes: each unpacks to this folder, its .mat inside. */
export const IMDB_WIKI_ARCHIVES = { imdb: 'imdb_crop', wiki: 'wiki_crop' } as const;
export type ImdbWikiArchive = keyof typeof IMDB_WIKI_ARCHIVES;

/**
 * IMDB-WIKI: labels from imdb.mat / wiki.mat with the seed's rules (see applyImdbWikiRules), split by
 * identity (celeb_id or name), crops from `<photo-dir>/<full_path>` or, with a margin, re-cropped from
 * face_location. With labels only the images are not read at all (the CSVs name crops that do not exist).
 */
export const imdbWiki = defineDataset({
  name: 'imdb-wiki',
  description:
    'IMDB-WIKI: labels from imdb.mat / wiki.mat with the original age rule and filters, split by identity',
  options: {
    dbPath: { type: 'path', required: true, arg: 'file', help: 'imdb.mat or wiki.mat (MATLAB v5)' },
    photoDir: {
      type: 'path',
      arg: 'dir',
      help: 'folder the full_path entries are relative to (e.g. data/imdb_crop)',
    },
    // face_score runs from -Inf (no face) to about 8; any plain number is a threshold.
    minScore: {
      type: 'number',
      min: -1e6,
      max: 1e6,
      default: 1.0,
      arg: 's',
      help: 'keep faces with face_score >= this',
    },
    recropMargin: {
      type: 'number',
      min: 0,
      max: 10,
      arg: 'm',
      help: 're-crop from face_location grown by m x the box size on each side',
      defaultHelp: 'no re-crop',
    },
  },
  async read(opts, ctx) {
    await requirePhotoDir(opts.photoDir, ctx.labelsOnly);
    const table = await readImdbWiki(opts.dbPath);
    const rules = applyImdbWikiRules(table, opts.minScore);
    const { rows, outside } = imdbWikiRows(table, rules, opts.photoDir ?? '.');
    return {
      rows,
      inputFiles: [{ option: 'dbPath', file: opts.dbPath }],
      crop: { margin: opts.recropMargin ?? null },
      counts: {
        read: table.rows,
        droppedFaceScore: rules.dropped.faceScore,
        droppedSecondFace: rules.dropped.secondFace,
        droppedAge: rules.dropped.age,
        droppedGender: rules.dropped.gender,
        badPath: outside.length,
      },
      input: {
        dbPath: path.resolve(opts.dbPath),
        struct: table.source,
        photoDir: opts.photoDir ? path.resolve(opts.photoDir) : null,
        minScore: opts.minScore,
        identityColumn: table.identity[0]?.startsWith('celeb:') ? 'celeb_id' : 'name',
        rules:
          'keep face_score >= min-score, second_face_score NaN or <= 0, 0 <= age <= 100, gender 0/1; ' +
          'age = photo_taken - birth year - (birth month >= 7); dropped rows count under the first rule they fail',
        rowsFailingEachRule: rules.failing,
        pathsOutsidePhotoDir: outside.slice(0, 20),
      },
    };
  },
});

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
