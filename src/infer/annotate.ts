import path from 'node:path';
import sharp from 'sharp';
import { decodeRgb } from '../data/image.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';
import type { FaceResult } from './types.js';

const FORMATS: Record<string, 'jpeg' | 'png' | 'webp' | 'avif' | 'tiff'> = {
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.png': 'png',
  '.webp': 'webp',
  '.avif': 'avif',
  '.tif': 'tiff',
  '.tiff': 'tiff',
};

/**
 * The EXIF Software tag of every annotated copy: what lets a later `--annotate` replace a copy it wrote,
 * and refuse any other file of that name (agegender writes only files it made).
 */
const ANNOTATED_BY = 'agegender annotate';

/** True when `file` is an image that annotate wrote (its EXIF says so). */
export async function isAnnotatedCopy(file: string): Promise<boolean> {
  const meta = await sharp(file)
    .metadata()
    .catch(() => null);
  return Boolean(meta?.exif?.includes(ANNOTATED_BY));
}

/** True when `file` ends in an image extension annotate can write. */
export function isAnnotatableName(file: string): boolean {
  return path.extname(file).toLowerCase() in FORMATS;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An SVG layer with one box and label per face, sized to the photo. */
export function overlaySvg(width: number, height: number, faces: FaceResult[]): string {
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 250));
  const parts = faces.map((f, i) => {
    const { x, y, w, h } = f.box;
    const font = Math.max(12, Math.round(Math.max(w, Math.min(width, height) / 6) / 5));
    const text = escapeXml(`${i + 1}: ${f.label}`);
    const tw = Math.round(font * 0.62 * text.length + font * 0.6);
    const th = Math.round(font * 1.3);
    // The label sits above the box, or inside its top edge when the box touches the top of the photo.
    const ty = y - th >= 0 ? y - th : y;
    const colour = f.gender === 'M' ? '#2f7de1' : '#e1462f';
    return (
      `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>` +
      `<rect x="${x}" y="${ty}" width="${tw}" height="${th}" fill="${colour}"/>` +
      `<text x="${x + font * 0.3}" y="${ty + th * 0.78}" font-family="DejaVu Sans, Arial, sans-serif" ` +
      `font-size="${font}" font-weight="bold" fill="#ffffff">${text}</text>`
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/**
 * Writes the photo with a box and `M/46` label per face to `outFile` (format from its extension),
 * atomically. Boxes are in the EXIF-oriented photo's pixels, as the predictor reports them.
 */
export async function annotate(input: string | Buffer, faces: FaceResult[], outFile: string): Promise<void> {
  const format = FORMATS[path.extname(outFile).toLowerCase()];
  if (!format) {
    throw new UserError(
      `--annotate ${outFile}: unknown image extension (use ${Object.keys(FORMATS).join(', ')})`,
    );
  }
  const { data, width, height } = await decodeRgb(input);
  const svg = Buffer.from(overlaySvg(width, height, faces));
  const out = await sharp(data, { raw: { width, height, channels: 3 } })
    .composite([{ input: svg, left: 0, top: 0 }])
    .withExif({ IFD0: { Software: ANNOTATED_BY } })
    .toFormat(format)
    .toBuffer();
  await writeFileAtomic(outFile, out);
}
