import sharp from 'sharp';
import { AGE_CLASSES, AGE_MAX } from './preprocess-spec.js';

/** Counts of rows per age class (index = age). */
export function ageHistogram(ages: Iterable<number>): number[] {
  const counts = new Array<number>(AGE_CLASSES).fill(0);
  for (const a of ages) if (a >= 0 && a < AGE_CLASSES) counts[a]!++;
  return counts;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A self-contained SVG bar chart of an age histogram (no scripts, no external fonts required). */
export function histogramSvg(counts: readonly number[], title: string): string {
  const W = 840;
  const H = 360;
  const left = 60;
  const right = 20;
  const top = 40;
  const bottom = 50;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const max = Math.max(1, ...counts);
  // A "nice" axis top: 1, 2 or 5 times a power of ten.
  const step = (() => {
    const raw = max / 5;
    const p = 10 ** Math.floor(Math.log10(raw || 1));
    return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? raw;
  })();
  const yMax = Math.ceil(max / step) * step;
  const bw = plotW / counts.length;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  );
  for (let v = 0; v <= yMax; v += step) {
    const y = top + plotH - (v / yMax) * plotH;
    parts.push(
      `<line x1="${left}" x2="${W - right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e0e0e0"/>`,
      `<text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${v}</text>`,
    );
  }
  counts.forEach((c, age) => {
    const h = (c / yMax) * plotH;
    const x = left + age * bw;
    parts.push(
      `<rect x="${(x + 0.5).toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${Math.max(bw - 1, 0.5).toFixed(1)}" height="${h.toFixed(1)}" fill="#4878a8"><title>age ${age}: ${c}</title></rect>`,
    );
  });
  for (let age = 0; age <= AGE_MAX; age += 10) {
    const x = left + (age + 0.5) * bw;
    parts.push(`<text x="${x.toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${age}</text>`);
  }
  parts.push(
    `<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#000"/>`,
    `<text x="${left + plotW / 2}" y="${H - 12}" text-anchor="middle">age (years)</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}

/** Renders the SVG to PNG with sharp (librsvg), for viewers that do not show SVG. */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}
