// Pure pixel maths (no sharp, no Node), shared by Node (data/image.ts cropSquare) and the browser entry.

/** Raw RGB pixels, HWC uint8 (the same shape as src/data/image.ts RgbImage). */
export interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A square region in image pixels (may reach outside the image): side w (a box's h, if given, is ignored). */
export interface SquareRegion {
  x: number;
  y: number;
  w: number;
  h?: number;
}

/**
 * Cuts `region` (a square) out of the image at full resolution. Parts outside the image are BLACK:
 * UTKFace's own aligned crops carry black corners where the face sat near the photo's edge, so black is
 * what the model saw in training.
 */
export function cutSquare(image: Rgb, region: SquareRegion): Rgb {
  const side = Math.max(1, Math.round(region.w));
  const x0 = Math.round(region.x);
  const y0 = Math.round(region.y);
  const square = new Uint8Array(side * side * 3);
  const sx0 = Math.max(0, x0);
  const sx1 = Math.min(image.width, x0 + side);
  if (sx1 > sx0) {
    const rowBytes = (sx1 - sx0) * 3;
    for (let y = Math.max(0, y0); y < Math.min(image.height, y0 + side); y++) {
      const src = (y * image.width + sx0) * 3;
      square.set(image.data.subarray(src, src + rowBytes), ((y - y0) * side + (sx0 - x0)) * 3);
    }
  }
  return { data: square, width: side, height: side };
}
