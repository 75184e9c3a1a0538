import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot, sharedDir, tempDir } from './helpers/fixtures.js';

// `npm test` starts with scripts/check-test-data.mjs: with the data folder it says nothing and lets the tests
// run; without it, one line naming the folder and each missing set, exit 1.
const check = (shared: string) =>
  spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'check-test-data.mjs')], {
    env: { ...process.env, AGEGENDER_SHARED: shared },
    encoding: 'utf8',
  });

test('the test-data check passes with the data folder and names what is missing without it', async () => {
  const ok = check(sharedDir);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stderr, '');

  const { dir, cleanup } = await tempDir();
  try {
    const bad = check(dir);
    assert.equal(bad.status, 1);
    const lines = bad.stderr.trim().split('\n');
    assert.equal(lines.length, 1, bad.stderr);
    assert.ok(lines[0]!.includes(dir), lines[0]);
    for (const rel of ['data/utkface', 'data/imdb-wiki/wiki.mat', 'data/aaf/faces'])
      assert.ok(lines[0]!.includes(rel), rel);
  } finally {
    await cleanup();
  }
});
