/**
 * The engine's options as plain data, so the CLI can list them in `--help` without loading tfjs
 * (src/engine/backend.ts re-exports the choices). Every command that runs a network spreads BACKEND and
 * THREADS into its option schema (src/util/option-schema.ts).
 */

/** Values of every `--backend` flag. 'auto': tensorflow if installed, else wasm+dnnl if oneDNN loads, else wasm. */
export const BACKEND_CHOICES = ['auto', 'wasm+dnnl', 'wasm', 'tensorflow', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** `--precision`: bf16 arithmetic inside oneDNN's convolutions and matmuls (wasm+dnnl, CPUs with bf16). */
export const PRECISION_CHOICES = ['f32', 'bf16'] as const;
export type Precision = (typeof PRECISION_CHOICES)[number];

/** `--weights`: how a bundle's weights.bin stores float32 weights, as they are or in half precision. */
export const WEIGHT_STORAGES = ['float32', 'float16'] as const;
export type WeightStorage = (typeof WEIGHT_STORAGES)[number];

export const BACKEND = {
  type: 'choice',
  choices: BACKEND_CHOICES,
  default: 'auto',
  help: 'tensor engine (auto: wasm+dnnl when oneDNN is installed, else wasm; tensorflow when tfjs-node is)',
} as const;

export const THREADS = {
  type: 'int',
  min: 1,
  max: 64,
  help: 'threads of the engine',
  defaultHelp: 'all cores',
} as const;
