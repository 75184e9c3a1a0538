import { cropSquare, type RgbImage } from '../data/image.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import type { Box } from './types.js';

export { cropRegion, iou } from './crop-rule.js';

/**
 * Cuts `region` out of the image (black outside it, see data/square.ts cutSquare) and resizes it with
 * sharp to the model's square input (HWC uint8 RGB). The browser entry does the same with its Lanczos-3
 * port; `preprocess aaf` cuts its detector-framed training crops with the same cropSquare.
 */
export function extractFace(
  image: RgbImage,
  region: Box,
  spec: Pick<PreprocessSpec, 'imageSize' | 'resize'>,
): Promise<Uint8Array> {
  return cropSquare(image, region, spec.imageSize, spec.resize.kernel);
}
