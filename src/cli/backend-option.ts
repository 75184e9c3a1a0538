import { Option } from 'commander';
import { BACKEND_CHOICES, PRECISION_CHOICES } from '../engine/backend-choices.js';

/** The one `--backend` flag of train, evaluate, predict, calibrate and serve. */
export function backendOption(): Option {
  return new Option(
    '--backend <name>',
    'tensor engine (auto: wasm+dnnl when oneDNN is installed, else wasm; tensorflow when tfjs-node is)',
  )
    .choices(BACKEND_CHOICES)
    .default('auto');
}

/** `--precision` of train: bf16 inside oneDNN's convolutions where the CPU has it. */
export function precisionOption(): Option {
  return new Option(
    '--precision <p>',
    'arithmetic inside the convolutions (bf16: wasm+dnnl on a CPU with bf16)',
  )
    .choices(PRECISION_CHOICES)
    .default('f32');
}
