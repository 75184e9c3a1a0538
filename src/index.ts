// Library entry point: re-exports grow as modules land.
export * from './data/preprocess-spec.js';
export * from './data/image.js';
