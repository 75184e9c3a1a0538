import { Option } from 'commander';
import { BACKEND_CHOICES } from '../engine/backend-choices.js';

/** The `--backend` flag of the commands not yet declared with an option schema (predict, calibrate, serve). */
export function backendOption(): Option {
  return new Option(
    '--backend <name>',
    'tensor engine (auto: wasm+dnnl when oneDNN is installed, else wasm; tensorflow when tfjs-node is)',
  )
    .choices(BACKEND_CHOICES)
    .default('auto');
}
