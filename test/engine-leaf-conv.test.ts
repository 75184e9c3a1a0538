import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend.js';
import { type Arr, assertClose, on, rand } from './helpers/kernel-compare.js';

/**
 * engine/leaf-conv.ts: a conv layer on the model's input, while gradients are recorded, skips the input's
 * gradient (unless asked for) and gives the cpu backend's weights gradients and outputs.
 */

before(async () => {
  await initBackend({ backend: 'wasm', threads: 1, quiet: true });
});

/** image -> conv 5x5/2 (bias) -> relu -> conv 3x3 (bias) -> dense: the first conv is the leaf. */
function net(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [11, 12, 3] });
  let h = tf.layers
    .conv2d({ filters: 4, kernelSize: 5, strides: 2, padding: 'valid', kernelInitializer: init(1) })
    .apply(input) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
  h = tf.layers
    .conv2d({
      filters: 5,
      kernelSize: 3,
      padding: 'same',
      kernelInitializer: init(2),
      biasInitializer: 'ones',
    })
    .apply(h) as tf.SymbolicTensor;
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, kernelInitializer: init(3) }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** Loss, its gradients over the weights, and over the image, on one backend. */
async function gradients(backend: string, x: Arr, wrtImage: boolean): Promise<Arr[]> {
  await tf.setBackend(backend);
  const model = net();
  const out = await on(backend, [x], (image) => {
    const loss = () => tf.sum(tf.square(model.apply(image!, { training: true }) as tf.Tensor)) as tf.Scalar;
    const { value, grads } = tf.variableGrads(loss);
    const imageGrad = wrtImage
      ? [tf.grad((im) => tf.sum(tf.square(model.apply(im, { training: true }) as tf.Tensor)))(image!)]
      : [];
    return [value, ...model.trainableWeights.map((w) => grads[w.originalName]!), ...imageGrad];
  });
  model.dispose();
  return out;
}

test('a conv on the input: weights gradients of the cpu backend, no gradient for the image', async () => {
  const x = rand([2, 11, 12, 3], 5);
  const expected = await gradients('cpu', x, false);
  await tf.setBackend('wasm');
  const model = net();
  const image = tf.tensor(x.values, x.shape);
  const info = await tf.profile(() => {
    tf.tidy(() => {
      tf.variableGrads(
        () => tf.sum(tf.square(model.apply(image, { training: true }) as tf.Tensor)) as tf.Scalar,
      );
    });
  });
  const backpropInput = info.kernels.filter((k) => k.name === 'Conv2DBackpropInput');
  // only the second conv's (its input is the first's output); none onto the image's 3 channels
  assert.deepEqual(
    backpropInput.map((k) => k.outputShapes[0]),
    [[2, 4, 4, 4]],
  );
  tf.dispose(image);
  model.dispose();
  assertClose(await gradients('wasm', x, false), expected, 'weights gradients');
});

test("the image's gradient is still computed when asked for (tf.grad of the input)", async () => {
  const x = rand([2, 11, 12, 3], 6);
  assertClose(await gradients('wasm', x, true), await gradients('cpu', x, true), 'with the image');
});
