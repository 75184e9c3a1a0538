import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from './helpers/fixtures.js';

/**
 * The multithreaded wasm backend (src/engine/wasm-threads.ts) must really compute on several threads
 * and give exactly the single-threaded results. Each run is a fresh process: the thread count is fixed
 * when the backend starts.
 */
const run = promisify(execFile);

interface Probe {
  threads: number;
  busyWorkers: number;
  losses: number[];
  sample: number[];
  weightsSha256: string;
}

async function probe(threads: number): Promise<Probe> {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'test', 'helpers', 'engine-threads-probe.ts')],
    { cwd: repoRoot, env: { ...process.env, AGEGENDER_THREADS: String(threads) }, timeout: 120_000 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as Probe;
}

test('two wasm threads run two threads and train exactly as one thread does', async () => {
  const [one, two] = await Promise.all([probe(1), probe(2)]);
  assert.equal(one.threads, 1);
  assert.equal(one.busyWorkers, 0);
  assert.equal(two.threads, 2, 'the XNNPACK pool has two threads');
  assert.ok(two.busyWorkers >= 1, 'a pthread worker is running beside the main thread');
  assert.ok(one.losses[2]! < one.losses[0]!, 'the probe trains');
  assert.deepEqual(two.losses, one.losses);
  assert.deepEqual(two.sample, one.sample);
  assert.equal(two.weightsSha256, one.weightsSha256, 'bit-identical weights after training');
});
