import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSplitRatio, splitByGroup } from '../src/data/split.js';
import { UserError } from '../src/util/errors.js';

/** 1000 rows of 300 people with 1..6 photos each (sizes vary so the ratio check is not trivial). */
function people() {
  const rows: { id: string; n: number }[] = [];
  for (let p = 0; rows.length < 1000; p++)
    for (let k = 0; k < 1 + ((p * 7) % 6) && rows.length < 1000; k++)
      rows.push({ id: `p${p}`, n: rows.length });
  return rows;
}

test('the split is reproducible for a seed and changes with the seed', () => {
  const rows = people();
  const ratio = parseSplitRatio('0.8,0.1,0.1');
  const a = splitByGroup(rows, (r) => r.id, ratio, 42);
  const b = splitByGroup([...rows], (r) => r.id, ratio, 42);
  assert.deepEqual(a, b);
  const c = splitByGroup(rows, (r) => r.id, ratio, 43);
  assert.notDeepEqual(
    a.val.map((r) => r.n),
    c.val.map((r) => r.n),
  );
});

test('no identity sits on two sides, every row lands once, and the ratios hold within one group', () => {
  const rows = people();
  const maxGroup = 6;
  for (const [text, seed] of [
    ['0.8,0.1,0.1', 1],
    ['0.7,0.2,0.1', 2],
    ['0.5,0.5', 3],
  ] as const) {
    const ratio = parseSplitRatio(text);
    const s = splitByGroup(rows, (r) => r.id, ratio, seed);
    const sides = new Map<string, string>();
    for (const [name, part] of Object.entries(s))
      for (const r of part) {
        const prev = sides.get(r.id);
        assert.ok(prev === undefined || prev === name, `${r.id} in ${prev} and ${name}`);
        sides.set(r.id, name);
      }
    assert.equal(s.train.length + s.val.length + s.test.length, rows.length);
    assert.deepEqual(
      [...s.train, ...s.val, ...s.test].map((r) => r.n).sort((x, y) => x - y),
      rows.map((r) => r.n),
    );
    assert.ok(
      Math.abs(s.train.length - ratio.train * rows.length) <= maxGroup,
      `${text}: train ${s.train.length}`,
    );
    assert.ok(
      Math.abs(s.val.length - ratio.val * rows.length) <= 2 * maxGroup,
      `${text}: val ${s.val.length}`,
    );
    if (ratio.test === 0) assert.equal(s.test.length, 0);
    else assert.ok(Math.abs(s.test.length - ratio.test * rows.length) <= 2 * maxGroup, `${text}: test`);
  }
});

test('bad --split-ratio values are one-line UserErrors', () => {
  for (const bad of ['0.8', '0.5,0.6', 'a,b', '0.8,0.1,0.1,0', '0,1', '-0.2,1.2'])
    assert.throws(() => parseSplitRatio(bad), UserError, bad);
  assert.deepEqual(parseSplitRatio(' 0.9 , 0.1 '), { train: 0.9, val: 0.1, test: 0 });
});
