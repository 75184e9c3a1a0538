// `npm test` runs this first: the tests read real faces from a data folder beside the clone (never copied
// into the repo), and without it some two hundred tests would fail one by one with ENOENT. One line says
// what is missing and where it goes instead.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.AGEGENDER_SHARED ?? path.resolve(repo, '..', 'shared');
const needed = [
  ['data/utkface', 'UTKFace "Aligned&Cropped Faces" unpacked flat (age_gender_race_datetime.jpg.chip.jpg)'],
  ['data/imdb-wiki/wiki.mat', "IMDB-WIKI's wiki.mat"],
  ['data/aaf/faces', "All-Age-Faces' aligned faces"],
];
const missing = needed.filter(([rel]) => !existsSync(path.join(shared, rel)));
const utk = path.join(shared, 'data', 'utkface');
const crops = existsSync(utk) ? readdirSync(utk).filter((n) => n.endsWith('.jpg.chip.jpg')).length : 0;
if (missing.length > 0 || crops < 1000) {
  const what = missing.length > 0 ? missing : [needed[0]];
  console.error(
    `npm test: the tests read real faces from ${shared} (set AGEGENDER_SHARED to use another folder); ` +
      `missing: ${what.map(([rel, about]) => `${rel} (${about})`).join('; ')}` +
      (existsSync(utk) && crops < 1000 ? `; data/utkface holds only ${crops} crops` : '') +
      '. README, "Datasets", says where to get each.',
  );
  process.exit(1);
}
