import sharp from 'sharp';
import type { RgbImage } from '../data/image.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import { cutSquare } from './crop-rule.js';
import type { Box } from './types.js';

export { cropRegion, iou } from './crop-rule.js';

/**
 * Cuts `region` out of the image (black outside it, see cutSquare) and resizes it with sharp to the
 * model's square input (HWC uint8 RGB). The browser entry does the same with its Lanczos-3 port.
 */
export async function extractFace(
  image: RgbImage,
  region: Box,
  spec: Pick<PreprocessSpec, 'imageSize' | 'resize'>,
): Promise<Uint8Array> {
  const square = cutSquare(image, region);
  const data = await sharp(square.data, { raw: { width: square.width, height: square.height, channels: 3 } })
    .resize(spec.imageSize, spec.imageSize, { fit: 'fill', kernel: spec.resize.kernel })
    .raw()
    .toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}
