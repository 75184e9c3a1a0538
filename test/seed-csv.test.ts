import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import { parseLabelsCsv, readLabelsCsv, writeLabelsCsv } from '../src/data/labels-csv.js';
import { tempDir } from './helpers/fixtures.js';

test('seed CSV round-trips through write and read', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const rows = [
      { filename: 'a/b, c.jpg', age: 46, gender: 1 as const },
      { filename: 'x.jpg', age: 0, gender: 0 as const },
    ];
    await writeLabelsCsv(path.join(dir, 't.csv'), rows);
    assert.deepEqual(await readLabelsCsv(path.join(dir, 't.csv')), rows);
  } finally {
    await cleanup();
  }
});

test('bad seed CSVs fail with one line naming file, line and reason', () => {
  const cases: [string, RegExp][] = [
    ['', /f\.csv: empty file/],
    ['filename,age\nx.jpg,3\n', /f\.csv:1: missing column gender/],
    ['filename,age,gender\n', /f\.csv: no rows/],
    ['filename,age,gender\nx.jpg,3,1\ny.jpg,101,1\n', /f\.csv:3: age "101" is not an integer in 0\.\.100/],
    ['filename,age,gender\nx.jpg,3.5,1\n', /f\.csv:2: age "3\.5"/],
    ['filename,age,gender\nx.jpg,3,2\n', /f\.csv:2: gender "2"/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parseLabelsCsv(text, 'f.csv'),
      (err: Error) => re.test(err.message) && !err.message.includes('\n'),
      text,
    );
  }
});
