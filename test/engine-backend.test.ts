import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, initBackend } from '../src/engine/backend.js';
import { WASM_TRAINING_KERNELS, isWasmTrainingKernel } from '../src/engine/wasm-kernels/index.js';
import { THREADED_WASM_VERSION, threadedWasmUnsupported } from '../src/engine/wasm-threads.js';
import { UserError } from '../src/util/errors.js';

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

test('auto starts the native backend when installed, else wasm with the training kernels; idempotent', async () => {
  const native = await nativeInstalled();
  const info = await initBackend({ quiet: true });
  assert.equal(info.name, native ? 'tensorflow' : 'wasm');
  assert.equal(tf.getBackend(), info.name);
  assert.ok(info.threads >= 1);
  const again = await initBackend({ backend: 'auto', quiet: true });
  assert.deepEqual(again, info);
  assert.match(describeBackend(), new RegExp(`^${info.name}\\b.*tfjs ${tf.version.tfjs}$`));
  if (!native) {
    for (const k of WASM_TRAINING_KERNELS) assert.ok(isWasmTrainingKernel(k), k);
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
  assert.deepEqual(await initBackend({ backend: 'cpu' }), { name: 'cpu', threads: 1 });
  assert.equal(tf.getBackend(), 'cpu');
  const back = await initBackend({ backend: 'wasm', quiet: true });
  assert.equal(back.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

test('threading is only started on the exact tfjs release it was written for', async () => {
  assert.equal(await threadedWasmUnsupported(THREADED_WASM_VERSION), null);
  assert.match((await threadedWasmUnsupported('4.23.0'))!, /not the 4\.22\.0/);
});
