// Library entry point: re-exports grow as modules land.
export * from './infer/preprocess-spec.js';
export * from './data/image.js';
