/**
 * The architectures `--arch` accepts, as plain data, so the CLI can list them in `--help` and the library
 * can type its options without loading tfjs (src/model/index.ts builds them and re-exports these).
 */

/** The first is the default. */
export const ARCHS = ['resnet-xs', 'resnet-s', 'resnet-m', 'basic-cnn'] as const;
export type Arch = (typeof ARCHS)[number];
/**
 * resnet-xs: at equal CPU time it scored better on UTKFace validation than resnet-s (MAE 13.1 vs 13.9
 * after ~150 CPU-seconds each) and than basic-cnn, and it trains ~3x faster per image than basic-cnn.
 */
export const DEFAULT_ARCH: Arch = ARCHS[0];
