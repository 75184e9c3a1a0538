import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeRgb } from '../src/data/image.js';
import { cutSquare } from '../src/infer/crop-rule.js';
import { lanczosResize } from '../src/data/resample.js';
import { pickUtkface, utkfaceDir } from './helpers/fixtures.js';

// The browser entry resamples face crops with its own port of sharp's resize (src/data/resample.ts) where
// Node uses sharp: the two must give the model (nearly) the same pixels, or the page and the server disagree.
// Shrinking must give sharp's very bytes: preprocess's fast path (src/data/crops/fast-path.ts) makes training crops with it.

for (const kernel of ['lanczos3', 'cubic', 'linear'] as const)
  test(`the browser entry resamples like sharp with kernel ${kernel}, shrinking and enlarging`, async () => {
    for (const sample of pickUtkface(kernel === 'lanczos3' ? 3 : 1, 2)) {
      const img = await decodeRgb(path.join(utkfaceDir, sample.file));
      // A region reaching outside the image (black there), as a face near the photo's edge gives.
      const square = cutSquare(img, { x: -20, y: 10, w: 190, h: 190 });
      for (const size of [64, 150, 190, 230, 400]) {
        const ours = lanczosResize(square.data, square.width, square.height, size, size, kernel);
        const theirs = await sharp(square.data, {
          raw: { width: square.width, height: square.height, channels: 3 },
        })
          .resize(size, size, { fit: 'fill', kernel })
          .raw()
          .toBuffer();
        assert.equal(ours.length, theirs.length);
        let sum = 0;
        let max = 0;
        for (let i = 0; i < ours.length; i++) {
          const d = Math.abs(ours[i]! - theirs[i]!);
          sum += d;
          if (d > max) max = d;
        }
        const mean = sum / ours.length;
        console.log(`${kernel} ${sample.file} -> ${size}px: mean |diff| ${mean.toFixed(3)}, max ${max}`);
        if (size <= square.width) assert.equal(max, 0, `shrinking to ${size}px differs by up to ${max}`);
        assert.ok(mean < 0.3, `mean difference ${mean} grey levels at ${size}px`);
        assert.ok(max <= 8, `largest difference ${max} grey levels at ${size}px`);
      }
    }
  });
