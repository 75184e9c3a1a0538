import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tfjs.js';

/**
 * A Conv2D layer applied to a tensor no recorded op produced (the model's input image) while gradients
 * are recorded runs its FusedConv2D kernel directly, with a gradient registered here that computes each
 * input's gradient only when the tape asks for it, instead of through tfjs's fused conv2d op, whose
 * gradient computes every input's at once, the image's included, which training throws away: for the
 * dlib ResNet's 7x7 stem that was a backward-data convolution onto 3 channels, ~7% of the step's
 * convolution time. The image's gradient is still computed when something asks for it (tf.grad of the
 * input), and the forward kernel is the same one: the answer is the same, only the unneeded work goes.
 * Inference (no tape) is untouched.
 */

interface ConvLayer {
  rank: number;
  dataFormat: string;
  padding: string;
  strides: number[];
  dilationRate: number | number[];
  kernel: { read(): tfTypes.Tensor };
  bias: { read(): tfTypes.Tensor } | null;
  activation: { apply(x: tfTypes.Tensor): tfTypes.Tensor };
}
type LayerCall = (
  this: ConvLayer,
  inputs: tfTypes.Tensor | tfTypes.Tensor[],
  kwargs: Record<string, unknown>,
) => tfTypes.Tensor;

interface EngineState {
  gradientDepth: number;
  activeTape: Array<{ outputs: tfTypes.Tensor[] }> | null;
}

/** Whether gradients are being recorded and `x` was not made by a recorded op. */
function isLeafOnTape(x: tfTypes.Tensor): boolean {
  const state = (tf.engine() as unknown as { state: EngineState }).state;
  const tape = state.activeTape;
  if (!tape || state.gradientDepth === 0) return false;
  // A layer's input is usually the newest output: search from the end.
  for (let i = tape.length - 1; i >= 0; i--)
    for (const o of tape[i]!.outputs) if (o.id === x.id) return false;
  return true;
}

let installed = false;

export function installLeafConvTraining(): void {
  if (installed) return;
  installed = true;
  const proto = Object.getPrototypeOf(tf.layers.conv2d({ filters: 1, kernelSize: 1 })) as {
    call: LayerCall;
  };
  const original = proto.call;
  tf.registerGradient({
    kernelName: 'FusedConv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const g = dy as tfTypes.Tensor4D;
      const [x, filter] = saved as [tfTypes.Tensor4D, tfTypes.Tensor4D];
      const { strides, pad, activation } = attrs as unknown as {
        strides: number[];
        pad: string;
        activation: string;
      };
      if (activation !== 'linear') throw new Error(`leaf conv: no gradient for activation ${activation}`);
      const common = { strides, pad, dataFormat: 'NHWC' };
      const run = (name: string, inputs: tfTypes.NamedTensorMap, more: object) =>
        tf.engine().runKernel(name, inputs, { ...common, ...more } as never) as tfTypes.Tensor;
      return {
        x: () => run('Conv2DBackpropInput', { dy: g, filter }, { inputShape: x.shape }),
        filter: () => run('Conv2DBackpropFilter', { x, dy: g }, { filterShape: filter.shape }),
        bias: () => tf.sum(g, [0, 1, 2]),
      };
    },
  });
  proto.call = function (this: ConvLayer, inputs, kwargs) {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const d = this.dilationRate;
    if (
      this.rank !== 2 ||
      (typeof d === 'number' ? d : Math.max(...d)) !== 1 ||
      this.dataFormat !== 'channelsLast' ||
      x.rank !== 4 ||
      tf.getBackend() !== 'wasm' ||
      !isLeafOnTape(x)
    )
      return original.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const attrs = {
        strides: this.strides,
        pad: this.padding === 'same' ? 'same' : 'valid',
        dataFormat: 'NHWC',
        dilations: [1, 1],
        activation: 'linear',
      };
      const args = { x, filter: this.kernel.read(), ...(this.bias ? { bias: this.bias.read() } : {}) };
      const y = tf.engine().runKernel('FusedConv2D', args, attrs as never) as tfTypes.Tensor;
      return this.activation.apply(y);
    });
  };
}
