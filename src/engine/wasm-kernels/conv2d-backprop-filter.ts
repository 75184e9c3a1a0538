import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import { conv2dExplicit, padOrCropHW, release, transpose } from './kernel-call.js';

/**
 * Conv2DBackpropFilter (the weight gradient of conv2d), missing from tfjs-backend-wasm 4.22.
 *
 * dW[kh,kw,ci,co] = sum_{n,oh,ow} x[n, oh*s+kh-pt, ow*s+kw-pl, ci] * dy[n,oh,ow,co] is itself a
 * convolution once the batch axis plays the part of the channels: input x^T [Ci, H, W, N], filter
 * dy^T [OH, OW, N, Co] dilated by the forward stride, output [Ci, KH, KW, Co]. That runs on the
 * backend's own XNNPACK Conv2D, far faster than any loop we could write in JS.
 */
export const conv2dBackpropFilterConfig: tfTypes.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: tfTypes.TensorInfo; dy: tfTypes.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
      attrs as unknown as tfTypes.Conv2DBackpropFilterAttrs;
    if (dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports NHWC only');
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
    const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
    // Explicit paddings that make the "conv" output exactly KH x KW; a negative one (rows a VALID
    // conv never reads) becomes a crop of x.
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    const bottom = kh + (oh - 1) * sh - h - top;
    const right = kw + (ow - 1) * sw - w - left;
    const fitted = padOrCropHW(backend, x, top, bottom, left, right);
    const xT = transpose(backend, fitted.out, [3, 1, 2, 0]);
    const dyT = transpose(backend, dy, [1, 2, 0, 3]);
    const dwT = conv2dExplicit(backend, xT, dyT, [1, 1], [sh, sw], fitted);
    const dw = transpose(backend, dwT, [1, 2, 0, 3]);
    if (fitted.out !== x) release(backend, fitted.out);
    release(backend, xT, dyT, dwT);
    return dw;
  },
};
