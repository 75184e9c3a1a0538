import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { cropOnCanvas } from '../../src/infer/calibrate.js';
import type { Predictor } from '../../src/infer/predictor.js';
import type { FaceResult } from '../../src/infer/types.js';

/**
 * Golden answers of a bundle on a few known crops (models/default/golden.json), so that a change in the
 * model, the preprocessing, the detector or the crop rule shows up as a failing test
 * (test/predict-golden.test.ts) instead of silently different answers. Each crop is predicted twice:
 * as is with --no-detect, and placed on a black canvas three times its size with detection (the
 * detector + calibrated crop path).
 */
export interface GoldenCase {
  /** File name inside the UTKFace folder. */
  file: string;
  mode: 'no-detect' | 'detect-on-canvas';
  faces: Pick<FaceResult, 'box' | 'age' | 'ageSpread' | 'pMale' | 'label'>[];
}

export interface GoldenFile {
  format: 'agegender-golden';
  /** sha256 of weights.bin: tells "the model changed" from "the code changed" when a case fails. */
  weightsSha256: string;
  createdAt: string;
  cases: GoldenCase[];
}

export const GOLDEN_JSON = 'golden.json';

export async function weightsSha256(modelDir: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(path.join(modelDir, 'weights.bin')))
    .digest('hex');
}

/** The predictor's answers on the given UTKFace crops, in both modes. */
export async function goldenCases(
  predictor: Predictor,
  imgDir: string,
  files: string[],
): Promise<GoldenCase[]> {
  const pick = (f: FaceResult) => ({
    box: f.box,
    age: f.age,
    ageSpread: f.ageSpread,
    pMale: f.pMale,
    label: f.label,
  });
  const cases: GoldenCase[] = [];
  for (const file of files) {
    const full = path.join(imgDir, file);
    const plain = await predictor.predict(full, { detect: false });
    cases.push({ file, mode: 'no-detect', faces: plain.map(pick) });
    const { canvas } = await cropOnCanvas(full);
    const png = await sharp(canvas.data, { raw: { width: canvas.width, height: canvas.height, channels: 3 } })
      .png()
      .toBuffer();
    cases.push({ file, mode: 'detect-on-canvas', faces: (await predictor.predict(png)).map(pick) });
  }
  return cases;
}
