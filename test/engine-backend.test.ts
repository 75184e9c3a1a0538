import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describeBackend, initBackend, leaseEngine } from '../src/engine/backend.js';
import { DNNL_KERNELS, dnnlLibrary, isDnnlKernel } from '../src/engine/dnnl/index.js';
import { WASM_TRAINING_KERNELS, isWasmTrainingKernel } from '../src/engine/wasm-kernels/index.js';
import { THREADED_WASM_VERSION, threadedWasmUnsupported } from '../src/engine/wasm-threads.js';
import { EngineInUseError, UserError } from '../src/util/errors.js';
import { repoRoot } from './helpers/fixtures.js';

const dnnl = !('reason' in dnnlLibrary());

async function nativeInstalled(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-node' as string);
    return true;
  } catch {
    return false;
  }
}

test('a bad AGEGENDER_THREADS is a one-line UserError', async () => {
  process.env.AGEGENDER_THREADS = 'lots';
  try {
    await assert.rejects(
      initBackend({ backend: 'wasm' }),
      (err: unknown) =>
        err instanceof UserError && /AGEGENDER_THREADS/.test(err.message) && !err.message.includes('\n'),
    );
  } finally {
    delete process.env.AGEGENDER_THREADS;
  }
});

test('auto starts the native backend when installed, else wasm (+ oneDNN when it loads) with the training kernels; idempotent', async () => {
  const native = await nativeInstalled();
  const info = await initBackend({ quiet: true });
  assert.equal(info.name, native ? 'tensorflow' : 'wasm');
  assert.equal(info.engine, native ? 'tensorflow' : dnnl ? 'wasm+dnnl' : 'wasm');
  assert.equal(tf.getBackend(), info.name);
  assert.ok(info.threads >= 1);
  const again = await initBackend({ backend: 'auto', quiet: true });
  assert.deepEqual(again, info);
  assert.match(
    describeBackend(),
    new RegExp(`^${info.engine.replace('+', '\\+')} .*tfjs ${tf.version.tfjs}$`),
  );
  if (!native) {
    for (const k of WASM_TRAINING_KERNELS) {
      // oneDNN's kernels sit in front of some of ours (which they fall back on).
      assert.ok(isWasmTrainingKernel(k) || (dnnl && isDnnlKernel(k)), k);
    }
    // One conv gradient, the kernel the stock wasm backend lacks.
    const g = tf.tidy(() =>
      tf.grad((w) => tf.conv2d(tf.ones([1, 5, 5, 2]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'same').sum())(
        tf.ones([3, 3, 2, 1]),
      ),
    );
    assert.deepEqual(g.shape, [3, 3, 2, 1]);
    g.dispose();
  }
});

test('an explicit tensorflow backend that is not installed is a one-line UserError saying how to install it', async (t) => {
  if (await nativeInstalled()) return t.skip('@tensorflow/tfjs-node is installed here');
  await assert.rejects(
    initBackend({ backend: 'tensorflow' }),
    (err: unknown) =>
      err instanceof UserError &&
      /npm install @tensorflow\/tfjs-node/.test(err.message) &&
      !err.message.includes('\n'),
  );
});

test('cpu can be chosen explicitly, and wasm again afterwards', async () => {
  assert.deepEqual(await initBackend({ backend: 'cpu' }), {
    name: 'cpu',
    engine: 'cpu',
    threads: 1,
    precision: 'f32',
  });
  assert.equal(tf.getBackend(), 'cpu');
  const back = await initBackend({ backend: 'wasm', quiet: true });
  assert.equal(back.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

test('a held engine is never switched: other backends or threads are refused until it is released', async () => {
  const first = await leaseEngine({ backend: 'wasm', quiet: true });
  try {
    const joined = await leaseEngine({ backend: 'auto' });
    assert.deepEqual(joined.info, first.info);
    joined.release();
    for (const opts of [
      { backend: 'cpu' as const },
      { backend: 'wasm' as const, threads: first.info.threads + 1 },
    ]) {
      await assert.rejects(leaseEngine(opts), EngineInUseError);
      // Not through the trainer's door either.
      await assert.rejects(initBackend(opts), EngineInUseError);
    }
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(describeBackend().split(' ')[0], first.info.engine);
  } finally {
    first.release();
  }
  assert.equal((await initBackend({ backend: 'cpu' })).name, 'cpu', 'free to switch once released');
  await initBackend({ backend: 'wasm', quiet: true });
});

test('wasm forces the wasm kernels and wasm+dnnl the oneDNN ones, back and forth', async (t) => {
  if (!dnnl) return t.skip(`oneDNN unavailable: ${(dnnlLibrary() as { reason: string }).reason}`);
  const plain = await initBackend({ backend: 'wasm', quiet: true });
  assert.equal(plain.engine, 'wasm');
  for (const k of DNNL_KERNELS) assert.ok(!isDnnlKernel(k), k);
  assert.match(describeBackend(), /^wasm \(/);
  const fast = await initBackend({ backend: 'wasm+dnnl', quiet: true });
  assert.equal(fast.engine, 'wasm+dnnl');
  for (const k of DNNL_KERNELS) assert.ok(isDnnlKernel(k), k);
  assert.match(describeBackend(), /^wasm\+dnnl \(oneDNN 2\./);
  await initBackend({ backend: 'wasm', quiet: true });
  for (const k of WASM_TRAINING_KERNELS) assert.ok(isWasmTrainingKernel(k), k);
});

test('bf16 is granted only on a CPU with its instructions, and said in one line otherwise', async (t) => {
  if (!dnnl) return t.skip('oneDNN unavailable');
  const api = dnnlLibrary() as { cpuIsa: number };
  const hasBf16 = (api.cpuIsa & 231) === 231;
  const run = await startIn({ AGEGENDER_PRECISION: 'bf16' }, 'wasm+dnnl');
  assert.equal(run.code, 0, run.stderr);
  if (hasBf16) {
    assert.match(run.stdout, /^wasm\+dnnl \(oneDNN .*, bf16, /);
  } else {
    assert.match(run.stderr, /^agegender: this CPU has no bf16 instructions \(\w+\); computing in f32\n$/);
    assert.doesNotMatch(run.stdout, /bf16/);
  }
  const bad = await startIn({ AGEGENDER_PRECISION: 'fp8' }, 'wasm+dnnl');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: precision: expected f32 or bf16, got 'fp8'\n$/);
});

/** Starts the engine in a fresh process with `env`; returns its stderr and exit code. */
async function startIn(env: Record<string, string>, backend: string) {
  const code =
    `const { initBackend, describeBackend } = await import(${JSON.stringify(path.join(repoRoot, 'src/engine/backend.ts'))});` +
    `try { await initBackend({ backend: ${JSON.stringify(backend)}, threads: 1 }); console.log(describeBackend()); }` +
    `catch (e) { console.error('error: ' + e.message); process.exitCode = 1; }`;
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', code],
      { env: { ...process.env, ...env }, cwd: repoRoot },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('without oneDNN, auto says so in one line and runs the wasm kernels; wasm+dnnl is a one-line error', async () => {
  const env = { AGEGENDER_DNNL_LIB: '/nonexistent/libdnnl.so.2' };
  const auto = await startIn(env, 'auto');
  assert.equal(auto.code, 0, auto.stderr);
  const notices = auto.stderr.split('\n').filter((l) => l.startsWith('agegender: '));
  assert.equal(notices.length, 1, auto.stderr);
  assert.match(
    notices[0]!,
    /oneDNN kernels off \(oneDNN not found \(apt-get install libdnnl2\).*nonexistent/,
  );
  assert.match(auto.stdout, /^wasm \(/);
  const forced = await startIn(env, 'wasm+dnnl');
  assert.equal(forced.code, 1);
  assert.match(forced.stderr, /^error: backend wasm\+dnnl: oneDNN not found .*\n$/);
});

test('threading is only started on the exact tfjs release it was written for', async () => {
  assert.equal(await threadedWasmUnsupported(THREADED_WASM_VERSION), null);
  assert.match((await threadedWasmUnsupported('4.23.0'))!, /not the 4\.22\.0/);
});
