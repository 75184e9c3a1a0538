import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { cropNameFor, DEFAULT_CSV_COLUMNS, parseLabelCsv } from '../src/data/datasets/csv.js';
import { preprocessCsv } from '../src/api/preprocess.js';
import { readLabelsCsv } from '../src/data/labels-csv.js';
import { parseSplitRatio } from '../src/data/split.js';
import { UserError } from '../src/util/errors.js';
import { pickUtkface, tempDir, utkfaceDir } from './helpers/fixtures.js';

const cols = {
  pathCol: 'img',
  ageCol: 'years',
  genderCol: 'sex',
  identityCol: 'person',
  maleValue: 'M',
  femaleValue: 'f',
};

test('a user CSV: columns by name, gender spelled by flags, bad rows skipped and counted', () => {
  const text = [
    'person,img,years,sex',
    'ann,a/1.jpg,31,F',
    'ann,a/2.png,31.6,f',
    'bob,b.jpg,45,m',
    'bob,b.jpg,45,m',
    'cy,c.jpg,,m',
    'cy,c2.jpg,130,m',
    'dee,d.jpg,20,x',
    'eve,,20,m',
  ].join('\n');
  const r = parseLabelCsv(text, 'my.csv', '/photos', cols);
  assert.deepEqual(r.counts, { read: 8, badPath: 1, badAge: 2, badGender: 1, duplicate: 1 });
  assert.deepEqual(
    r.rows.map((x) => [x.source, x.filename, x.age, x.gender, x.identity]),
    [
      ['/photos/a/1.jpg', 'a/1.jpg', 31, 0, 'id:ann'],
      ['/photos/a/2.png', 'a/2.png.jpg', 32, 0, 'id:ann'],
      ['/photos/b.jpg', 'b.jpg', 45, 1, 'id:bob'],
    ],
  );
  assert.match(r.rejected.join('\n'), /line 6: age "" is not a number/);
});

test('a missing column or clashing gender values are one-line UserErrors naming the file', () => {
  assert.throws(
    () => parseLabelCsv('filename,age\na.jpg,3\n', 'my.csv', '.', DEFAULT_CSV_COLUMNS),
    (e: unknown) =>
      e instanceof UserError && /^my\.csv:1: no column "gender" \(--gender-col\)/.test(e.message),
  );
  assert.throws(() => parseLabelCsv('filename,age,gender\n', 'my.csv', '.', DEFAULT_CSV_COLUMNS), /no rows/);
  assert.throws(
    () =>
      parseLabelCsv('filename,age,gender\na,1,1\n', 'my.csv', '.', {
        ...DEFAULT_CSV_COLUMNS,
        femaleValue: '1',
      }),
    UserError,
  );
});

test('crop names stay inside crop/ and always end in .jpg', () => {
  assert.equal(cropNameFor('/abs/x.PNG'), 'abs/x.PNG.jpg');
  assert.equal(cropNameFor('../up/./y.jpeg'), '__/up/y.jpeg');
  assert.equal(cropNameFor('win\\dir\\z.jpg'), 'win/dir/z.jpg');
});

test('preprocess csv end to end on PNG and JPEG photos', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const picks = pickUtkface(6);
    const photos = path.join(dir, 'photos');
    await fs.mkdir(photos);
    const lines = ['img,years,sex,person'];
    for (const [i, p] of picks.entries()) {
      const name = i % 2 ? `p${i}.png` : `p${i}.jpg`;
      await sharp(path.join(utkfaceDir, p.file)).toFile(path.join(photos, name));
      lines.push(`${name},${p.age},${p.gender ? 'M' : 'F'},${i >> 1}`);
    }
    await fs.writeFile(path.join(dir, 'my.csv'), lines.join('\n'));
    const out = path.join(dir, 'out');
    const s = await preprocessCsv({
      csv: path.join(dir, 'my.csv'),
      photoDir: photos,
      ...cols,
      outputDir: out,
      imgSize: 24,
      quality: 90,
      splitRatio: parseSplitRatio('0.5,0.5'),
      seed: 1,
    });
    assert.equal(s.counts.kept, 6);
    const rows = [
      ...(await readLabelsCsv(path.join(out, 'train.csv'))),
      ...(await readLabelsCsv(path.join(out, 'val.csv'))),
    ];
    assert.deepEqual(rows.map((r) => r.filename).sort(), [
      'p0.jpg',
      'p1.png.jpg',
      'p2.jpg',
      'p3.png.jpg',
      'p4.jpg',
      'p5.png.jpg',
    ]);
    for (const r of rows)
      assert.equal((await sharp(path.join(out, 'crop', r.filename)).metadata()).format, 'jpeg');
    assert.equal(s.split.train.identities + s.split.val.identities, 3, 'persons 0..2 each on one side');
  } finally {
    await cleanup();
  }
});
