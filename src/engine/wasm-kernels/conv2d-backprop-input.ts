import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tfjs.js';
import {
  conv2dExplicit,
  padOrCropHW,
  release,
  reverse,
  run,
  runConfig,
  transpose,
  zeroInsert,
} from './kernel-call.js';

/**
 * Conv2DBackpropInput (the input gradient of conv2d, i.e. a transposed convolution), replacing the
 * wasm backend's own kernel, a scalar loop measured ~6x slower than a forward conv of the same size.
 *
 * Stride 1: dx = conv(dy, filter flipped in space with in/out swapped) on the backend's XNNPACK
 * Conv2D. Stride s > 1 (sides divisible by s): the sub-pixel form, one small conv per output phase
 * (r_h, r_w) with the filter taps of that phase, then interleaved; no multiply by the zeros
 * a dilated dy would hold. Other strided shapes: zero insertion into dy, then the stride-1 form.
 */
export function makeConv2dBackpropInputConfig(
  original: tfTypes.KernelConfig | undefined,
): tfTypes.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    // The original's setup binds its wasm function; keep it so `original` still works when our
    // config is registered before the backend initialises.
    setupFunc: original?.setupFunc,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { dy, filter } = inputs as { dy: tfTypes.TensorInfo; filter: tfTypes.TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
        attrs as unknown as tfTypes.Conv2DBackpropInputAttrs;
      if (dataFormat === 'NCHW' && original) return original.kernelFunc(args);
      const info = tf.backend_util.computeConv2DInfo(
        inputShape,
        filter.shape as [number, number, number, number],
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
      const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
      const flipped = reverse(backend, filter, [0, 1]);
      const swapped = transpose(backend, flipped, [0, 1, 3, 2]);
      release(backend, flipped);
      const strided = sh > 1 || sw > 1;
      if (strided && sh === sw && h % sh === 0 && w % sw === 0) {
        const dx = subPixel(backend, dy, swapped, info);
        release(backend, swapped);
        return dx;
      }
      const dyd = strided ? zeroInsert(backend, dy, sh, sw) : dy;
      // dyd is OH*s tall (s-1 trailing zeros); pick paddings so the output is exactly H x W.
      const top = kh - 1 - info.padInfo.top;
      const left = kw - 1 - info.padInfo.left;
      const bottom = h - oh * sh + info.padInfo.top;
      const right = w - ow * sw + info.padInfo.left;
      const fitted = padOrCropHW(backend, dyd, top, bottom, left, right);
      const dx = conv2dExplicit(backend, fitted.out, swapped, [1, 1], [1, 1], fitted);
      if (fitted.out !== dyd) release(backend, fitted.out);
      if (dyd !== dy) release(backend, dyd);
      release(backend, swapped);
      return dx;
    },
  };
}

/**
 * Along one axis, output phase r (dx rows i = s*q + r) only meets filter taps k = t, t+s, ... with
 * t = (r + pad) mod s: dx_r[q] = sum_m dy[q + d - m] * W[s*m + t], d = floor((r + pad) / s). With the
 * flipped filter F (F[a] = W[K-1-a]) that is a stride-1 correlation of dy with F[a0::s] (M taps),
 * padded by M-1-d before and as needed after for Q = side/s outputs.
 */
function phase(r: number, s: number, k: number, pad: number, q: number, dyLen: number) {
  const t = (r + pad) % s;
  const taps = t < k ? Math.ceil((k - t) / s) : 0;
  const d = Math.floor((r + pad) / s);
  const before = taps - 1 - d;
  return { taps, first: k - 1 - t - s * (taps - 1), before, after: q + taps - 1 - dyLen - before };
}

function subPixel(
  backend: object,
  dy: tfTypes.TensorInfo,
  swapped: tfTypes.TensorInfo,
  info: tfTypes.backend_util.Conv2DInfo,
): tfTypes.TensorInfo {
  const s = info.strideHeight;
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow } = info;
  const qh = h / s;
  const qw = w / s;
  const parts: tfTypes.TensorInfo[] = [];
  for (let rh = 0; rh < s; rh++) {
    const ph = phase(rh, s, kh, info.padInfo.top, qh, oh);
    for (let rw = 0; rw < s; rw++) {
      const pw = phase(rw, s, kw, info.padInfo.left, qw, ow);
      if (ph.taps === 0 || pw.taps === 0) {
        parts.push(run(backend, 'Fill', {}, { shape: [n, qh, qw, ci], value: 0, dtype: 'float32' }));
        continue;
      }
      const sub = run(
        backend,
        'StridedSlice',
        { x: swapped },
        {
          begin: [ph.first, pw.first, 0, 0],
          end: [ph.first + s * (ph.taps - 1) + 1, pw.first + s * (pw.taps - 1) + 1, co, ci],
          strides: [s, s, 1, 1],
          beginMask: 0,
          endMask: 0,
          ellipsisMask: 0,
          newAxisMask: 0,
          shrinkAxisMask: 0,
        },
      );
      const fitted = padOrCropHW(backend, dy, ph.before, ph.after, pw.before, pw.after);
      parts.push(conv2dExplicit(backend, fitted.out, sub, [1, 1], [1, 1], fitted));
      if (fitted.out !== dy) release(backend, fitted.out);
      release(backend, sub);
    }
  }
  // Interleave the phases: dx[b, s*q + rh, s*p + rw, c] = parts[rh*s + rw][b, q, p, c]. Two stacks
  // (columns, then rows) are plain block copies; the wasm DepthToSpace measured ~8x slower.
  const pack = tf.getKernel('Pack', 'wasm')!;
  const rows: tfTypes.TensorInfo[] = [];
  for (let rh = 0; rh < s; rh++) {
    const cols = runConfig(pack, backend, parts.slice(rh * s, rh * s + s), { axis: 3 });
    rows.push(run(backend, 'Reshape', { x: cols }, { shape: [n, qh, w, ci] }));
    release(backend, cols);
  }
  release(backend, ...parts);
  const stacked = runConfig(pack, backend, rows, { axis: 2 });
  release(backend, ...rows);
  const dx = run(backend, 'Reshape', { x: stacked }, { shape: [n, h, w, ci] });
  release(backend, stacked);
  return dx;
}
