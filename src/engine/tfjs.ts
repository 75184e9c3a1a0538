import { createRequire } from 'node:module';
import type * as tfTypes from '@tensorflow/tfjs';

/**
 * '@tensorflow/tfjs' for Node code, loaded with require. An ESM `import` of this CommonJS package makes
 * Node scan its source and every package it re-exports (core, layers, converter, data, cpu, webgl) for
 * export names before running it: 850-1,000 ms against 260-335 ms for require (with the wasm backend,
 * load average 13 on 2 cores), paid at every `agegender predict`. It is the same module instance either
 * way (tests and training code that import it share it). Types: `import type * as tfTypes`.
 */
export const tf: typeof tfTypes = createRequire(import.meta.url)('@tensorflow/tfjs');
