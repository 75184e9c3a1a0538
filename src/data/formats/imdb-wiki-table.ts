import { UserError } from '../../util/errors.js';
import { matNumbers, matStrings, readMat, type MatStruct, type MatValue } from './mat5.js';

/** The columns of an IMDB-WIKI metadata file (imdb.mat or wiki.mat), one entry per photo. */
export interface ImdbWikiTable {
  /** The struct's name: 'imdb' or 'wiki' (or whatever single struct the file holds). */
  source: string;
  rows: number;
  dob: number[];
  photoTaken: number[];
  fullPath: string[];
  gender: number[];
  /** Who is in the photo: `celeb:<celeb_id>` for imdb.mat, `name:<name>` for wiki.mat. */
  identity: string[];
  faceLocation: (number[] | null)[];
  faceScore: number[];
  secondFaceScore: number[];
}

const REQUIRED = ['dob', 'photo_taken', 'full_path', 'gender', 'face_score', 'second_face_score'] as const;

/** Reads imdb.mat / wiki.mat into plain columns, checking that every field has one value per row. */
export async function readImdbWiki(file: string): Promise<ImdbWikiTable> {
  return imdbWikiTable(await readMat(file), file);
}

/** The table of an already parsed MAT file (`file` names it in errors). */
export function imdbWikiTable(vars: Record<string, MatValue>, file: string): ImdbWikiTable {
  const structs = Object.entries(vars).filter(([, v]) => v.kind === 'struct') as [string, MatStruct][];
  const named =
    structs.find(([k]) => k === 'imdb' || k === 'wiki') ?? (structs.length === 1 ? structs[0] : undefined);
  if (!named)
    throw new UserError(
      `${file}: no imdb or wiki struct in this MAT file (found ${Object.keys(vars).join(', ') || 'nothing'})`,
    );
  const [source, struct] = named;
  const rec = struct.elements[0];
  if (!rec) throw new UserError(`${file}: the ${source} struct is empty`);
  for (const f of REQUIRED)
    if (!rec[f]) throw new UserError(`${file}: the ${source} struct has no field ${f}`);
  const field = (f: string): MatValue => rec[f]!;
  const what = (f: string) => `${file}: ${source}.${f}`;
  const fullPath = matStrings(field('full_path'), what('full_path'));
  const rows = fullPath.length;
  const numbers = (f: string) => {
    const v = matNumbers(field(f), what(f));
    if (v.length !== rows) throw new UserError(`${what(f)} has ${v.length} values for ${rows} rows`);
    return v;
  };
  let identity: string[];
  if (rec.celeb_id) identity = numbers('celeb_id').map((id) => `celeb:${id}`);
  else if (rec.name) {
    const names = matStrings(field('name'), what('name'));
    if (names.length !== rows)
      throw new UserError(`${what('name')} has ${names.length} values for ${rows} rows`);
    // An unnamed photo is its own identity rather than one big "nobody" group.
    identity = names.map((n, i) => (n.trim() ? `name:${n.trim()}` : `path:${fullPath[i]}`));
  } else identity = fullPath.map((p) => `path:${p}`);
  let faceLocation: (number[] | null)[] = new Array(rows).fill(null);
  const loc = rec.face_location;
  if (loc?.kind === 'cell') {
    if (loc.items.length !== rows)
      throw new UserError(`${what('face_location')} has ${loc.items.length} values for ${rows} rows`);
    faceLocation = loc.items.map((item) => {
      if (item.kind !== 'numeric') return null;
      const box = matNumbers(item);
      return box.length === 4 ? box : null;
    });
  }
  return {
    source,
    rows,
    dob: numbers('dob'),
    photoTaken: numbers('photo_taken'),
    fullPath,
    gender: numbers('gender'),
    identity,
    faceLocation,
    faceScore: numbers('face_score'),
    secondFaceScore: numbers('second_face_score'),
  };
}

/** MATLAB datenum of 1970-01-01 (datenum counts days from the year 0, proleptic Gregorian). */
export const DATENUM_UNIX_EPOCH = 719529;

/** Birth year and month (1..12) of a MATLAB datenum, or null if it is not a usable date. */
export function datenumToYearMonth(datenum: number): { year: number; month: number } | null {
  if (!Number.isFinite(datenum)) return null;
  const d = new Date((Math.floor(datenum) - DATENUM_UNIX_EPOCH) * 86_400_000);
  if (Number.isNaN(d.getTime())) return null;
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1 };
}

/**
 * The seed's age rule: the photo year minus the birth year, minus one more when the birthday falls in the
 * second half of the year (the photo is assumed to be taken mid-year). NaN when either date is unusable.
 */
export function ageAtPhoto(dob: number, photoTaken: number): number {
  const birth = datenumToYearMonth(dob);
  if (!birth || !Number.isFinite(photoTaken)) return NaN;
  return photoTaken - birth.year - (birth.month >= 7 ? 1 : 0);
}

/** The seed's filters, in the order they are applied; a dropped row is counted under the first it fails. */
export const RULES = ['faceScore', 'secondFace', 'age', 'gender'] as const;
export type Rule = (typeof RULES)[number];

export interface RuleResult {
  /** Row indices that pass every rule, in table order, with the age computed. */
  kept: { index: number; age: number; gender: 0 | 1 }[];
  /** Rows dropped by each rule, counting a row only under the first rule it fails. */
  dropped: Record<Rule, number>;
  /** Rows failing each rule regardless of the others (they overlap). */
  failing: Record<Rule, number>;
}

/**
 * Applies the seed's rules: keep a row when face_score >= minScore (no face is -Inf), there is no second
 * face (second_face_score NaN or <= 0), 0 <= age <= 100, and the gender is known (0 or 1).
 */
export function applyImdbWikiRules(t: ImdbWikiTable, minScore: number): RuleResult {
  const dropped: Record<Rule, number> = { faceScore: 0, secondFace: 0, age: 0, gender: 0 };
  const failing: Record<Rule, number> = { faceScore: 0, secondFace: 0, age: 0, gender: 0 };
  const kept: RuleResult['kept'] = [];
  for (let i = 0; i < t.rows; i++) {
    const age = ageAtPhoto(t.dob[i]!, t.photoTaken[i]!);
    const g = t.gender[i]!;
    const fails: Record<Rule, boolean> = {
      faceScore: !(t.faceScore[i]! >= minScore),
      secondFace: t.secondFaceScore[i]! > 0,
      age: !(age >= 0 && age <= 100),
      gender: g !== 0 && g !== 1,
    };
    let first: Rule | null = null;
    for (const r of RULES)
      if (fails[r]) {
        failing[r]++;
        first ??= r;
      }
    if (first) dropped[first]++;
    else kept.push({ index: i, age, gender: g as 0 | 1 });
  }
  return { kept, dropped, failing };
}
