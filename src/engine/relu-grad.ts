import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tfjs.js';
import type { HeapBackend } from './wasm-kernels/kernel-call.js';

/**
 * ReLU's gradient as one kernel on wasm: dx = x > 0 ? dy : dy * 0 in one pass, instead of tfjs's
 * `mul(dy, cast(step(x)))`: two more single-threaded passes and a temporary the size of the activation.
 * Every ReLU of the dlib ResNet is its own layer (none fused into a convolution), so a training step runs
 * 29 of them. With wasm+dnnl, oneDNN's eltwise backward takes the big tensors (dnnl/elementwise-kernels.ts).
 * Same numbers as tfjs: step(x) is 1 above 0, 0 below or at 0, NaN for NaN (dy * NaN).
 * Other backends keep tfjs's gradient (the cpu backend stays the reference the tests compare with).
 */

export const RELU_GRAD = 'AgegenderReluGrad';

/** dx for `count` values (the kernel's arithmetic, shared with tests). */
export function reluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    dx[i] = v > 0 ? dy[i]! : v !== v ? NaN : dy[i]! * 0;
  }
}

let installed = false;

/** Registers the kernel on wasm and routes Relu's gradient to it there. Idempotent. */
export function installFastReluGrad(): void {
  if (installed) return;
  installed = true;
  tf.registerKernel({
    kernelName: RELU_GRAD,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const { dy, x } = inputs as Record<'dy' | 'x', tfTypes.TensorInfo>;
      const be = backend as HeapBackend;
      const dx = be.makeOutput(x.shape.slice(), 'float32');
      // Views after the allocation (a heap growth detaches older ones).
      reluGrad(be.typedArrayFromHeap(dy), be.typedArrayFromHeap(x), be.typedArrayFromHeap(dx));
      return dx;
    },
  });
  tf.registerGradient({
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as tfTypes.Tensor[];
      const d = dy as tfTypes.Tensor;
      if (tf.getBackend() === 'wasm' && x!.dtype === 'float32' && d.dtype === 'float32')
        return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: d, x: x! }) as tfTypes.Tensor };
      // tfjs-core 4.22's own (gradients/Relu_grad.ts).
      return { x: () => tf.mul(d, tf.cast(tf.step(x!), 'float32')) };
    },
  });
}
