import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tfjs.js';

/**
 * The gradient of tfjs's FusedBatchNorm kernel, as tfjs-core 4.22 defines it, minus one `tile`: the
 * stock gradient tiles 1/sqrt(var + eps) to the full [N, H, W, C] shape before a multiply that broadcasts
 * anyway, and on the wasm backend that tile was the single most expensive kernel of a ResNet training
 * step (~20% of it). Broadcasting gives the same numbers without materialising the tiled tensor.
 * Registered once, process-wide, by initBackend (engine/backend.ts) with the other kernel overrides.
 */
let registered = false;

export function registerFastBatchNormGrad(): void {
  if (registered) return;
  registered = true;
  const config: tfTypes.GradConfig = {
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const dyT = dy as tfTypes.Tensor;
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      const [x, mean, variance, scale] = saved as [
        tfTypes.Tensor,
        tfTypes.Tensor,
        tfTypes.Tensor,
        tfTypes.Tensor | undefined,
      ];
      const scaleValue = scale ?? tf.scalar(1);
      const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
      const reduce = (t: tfTypes.Tensor) => (mean.rank === 1 ? tf.sum(t, reductionAxes) : t);
      const xMinusMean = tf.sub(x, mean);
      const dyTimesScale = tf.mul(dyT, scaleValue);
      const invStd = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
      const minusHalfRCube = tf.mul(tf.mul(tf.mul(invStd, invStd), invStd), tf.scalar(-0.5));
      return {
        x: () => tf.reshape(tf.mul(dyTimesScale, invStd), x.shape),
        mean: () => tf.reshape(reduce(tf.mul(tf.neg(invStd), dyTimesScale)), mean.shape),
        variance: () =>
          tf.reshape(reduce(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyTimesScale)), mean.shape),
        scale: () => tf.reshape(reduce(tf.mul(dyT, tf.mul(xMinusMean, invStd))), mean.shape),
        offset: () => tf.reshape(reduce(dyT), mean.shape),
      };
    },
  };
  tf.registerGradient(config);
}
