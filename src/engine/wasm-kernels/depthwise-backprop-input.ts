import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import { padOrCropHW, release, reshape, reverse, run, slice, zeroInsert } from './kernel-call.js';

/**
 * DepthwiseConv2dNativeBackpropInput, missing from tfjs-backend-wasm 4.22.
 *
 * The transposed depthwise convolution: a stride-1 depthwise conv of dy (zeros inserted for a strided
 * forward conv) with the spatially flipped filter, one pass per channel multiplier m, summed.
 */
export const depthwiseBackpropInputConfig: tfTypes.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: tfTypes.TensorInfo; filter: tfTypes.TensorInfo };
    const { strides, dilations, pad, dimRoundingMode, inputShape } =
      attrs as unknown as tfTypes.DepthwiseConv2dNativeBackpropInputAttrs;
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      dilations,
      pad,
      dimRoundingMode,
      true,
    );
    const { batchSize: n, inChannels: c, inHeight: h, inWidth: w } = info;
    const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
    const { effectiveFilterHeight: ekh, effectiveFilterWidth: ekw } = info;
    const { dilationHeight: dh, dilationWidth: dw } = info;
    const [kh, kw, , m] = filter.shape as [number, number, number, number];
    const flipped = reverse(backend, filter, [0, 1]);
    const dy5 = m > 1 ? reshape(backend, dy, [n, oh, ow, c, m]) : dy;
    let sum: tfTypes.TensorInfo | undefined;
    for (let k = 0; k < m; k++) {
      let dyk = dy;
      if (m > 1) {
        const sliced = slice(backend, dy5, [0, 0, 0, 0, k], [n, oh, ow, c, 1]);
        dyk = reshape(backend, sliced, [n, oh, ow, c]);
        release(backend, sliced);
      }
      const fk = m > 1 ? slice(backend, flipped, [0, 0, 0, k], [kh, kw, c, 1]) : flipped;
      const dyd = sh > 1 || sw > 1 ? zeroInsert(backend, dyk, sh, sw) : dyk;
      const fitted = padOrCropHW(
        backend,
        dyd,
        ekh - 1 - info.padInfo.top,
        h - oh * sh + info.padInfo.top,
        ekw - 1 - info.padInfo.left,
        w - ow * sw + info.padInfo.left,
      );
      const part = run(
        backend,
        'DepthwiseConv2dNative',
        { x: fitted.out, filter: fk },
        {
          strides: [1, 1],
          dilations: [dh, dw],
          pad: [
            [0, 0],
            [fitted.top, fitted.bottom],
            [fitted.left, fitted.right],
            [0, 0],
          ],
          dimRoundingMode: undefined,
        },
      );
      if (fitted.out !== dyd) release(backend, fitted.out);
      if (dyd !== dyk) release(backend, dyd);
      if (dyk !== dy) release(backend, dyk);
      if (fk !== flipped) release(backend, fk);
      if (sum === undefined) sum = part;
      else {
        const next = run(backend, 'Add', { a: sum, b: part });
        release(backend, sum, part);
        sum = next;
      }
    }
    if (dy5 !== dy) release(backend, dy5);
    release(backend, flipped);
    return sum!;
  },
};
