import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import { pad, release, reshape, run, runConfig } from './kernel-call.js';

/**
 * DepthwiseConv2dNativeBackpropFilter, missing from tfjs-backend-wasm 4.22.
 *
 * For each filter tap (kh, kw): dW[kh,kw,c,m] = sum_{n,oh,ow} xs[n,oh,ow,c] * dy[n,oh,ow,c*M+m], with
 * xs the strided window of the padded input that tap sees. KH*KW slices, products and sums, all on
 * wasm kernels: linear in the tensor sizes, with no JS loop over elements.
 */
export const depthwiseBackpropFilterConfig: tfTypes.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: tfTypes.TensorInfo; dy: tfTypes.TensorInfo };
    const {
      strides,
      dilations,
      pad: padding,
      dimRoundingMode,
      filterShape,
    } = attrs as unknown as tfTypes.DepthwiseConv2dNativeBackpropFilterAttrs;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      dilations,
      padding,
      dimRoundingMode,
      true,
    );
    const { batchSize: n, inChannels: c, outHeight: oh, outWidth: ow } = info;
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
    const { dilationHeight: dh, dilationWidth: dw } = info;
    const m = info.outChannels / c;
    const { top, bottom, left, right } = info.padInfo;
    const xp =
      top + bottom + left + right > 0
        ? pad(backend, x, [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ])
        : x;
    const dy5 = reshape(backend, dy, [n, oh, ow, c, m]);
    const taps: tfTypes.TensorInfo[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const window = run(
          backend,
          'StridedSlice',
          { x: xp },
          {
            begin: [0, i * dh, j * dw, 0],
            end: [n, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1, c],
            strides: [1, sh, sw, 1],
            beginMask: 0,
            endMask: 0,
            ellipsisMask: 0,
            newAxisMask: 0,
            shrinkAxisMask: 0,
          },
        );
        const window5 = reshape(backend, window, [n, oh, ow, c, 1]);
        const prod = run(backend, 'Multiply', { a: window5, b: dy5 });
        const tap = run(backend, 'Sum', { x: prod }, { axis: [0, 1, 2], keepDims: false });
        taps.push(tap);
        release(backend, window, window5, prod);
      }
    }
    const stacked = runConfig(tf.getKernel('Pack', 'wasm')!, backend, taps, { axis: 0 });
    const out = reshape(backend, stacked, [kh, kw, c, m]);
    release(backend, stacked, dy5, ...taps);
    if (xp !== x) release(backend, xp);
    return out;
  },
};
