/** The tensor engines one can ask for (src/engine/backend.ts starts them); pure, so listing them is cheap. */
export const BACKENDS = ['auto', 'wasm', 'tensorflow', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
