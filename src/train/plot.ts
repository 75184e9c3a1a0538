import path from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../util/atomic.js';

/** One line of metrics.jsonl (the fields the plot reads). */
export interface MetricsLine {
  step: number;
  trainLoss: number;
  valLoss: number;
  mae: number;
  cs5: number;
  genderAcc: number;
}

interface Series {
  label: string;
  color: string;
  points: [number, number][];
}

const W = 320;
const H = 240;
const PAD = { l: 52, r: 12, t: 28, b: 36 };

function ticks(min: number, max: number, n = 5): number[] {
  const span = max - min || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) out.push(+v.toPrecision(6));
  return out;
}

function panel(x0: number, title: string, series: Series[]): string {
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (pts.length === 0) return '';
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [xmin, xmax] = [Math.min(0, ...xs), Math.max(...xs, 1)];
  let [ymin, ymax] = [Math.min(...ys), Math.max(...ys)];
  if (ymin === ymax) [ymin, ymax] = [ymin - 1, ymax + 1];
  const pad = (ymax - ymin) * 0.05;
  ymin -= pad;
  ymax += pad;
  const sx = (x: number) => x0 + PAD.l + ((x - xmin) / (xmax - xmin)) * (W - PAD.l - PAD.r);
  const sy = (y: number) => PAD.t + (1 - (y - ymin) / (ymax - ymin)) * (H - PAD.t - PAD.b);
  const parts: string[] = [
    `<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`,
    `<rect x="${x0 + PAD.l}" y="${PAD.t}" width="${W - PAD.l - PAD.r}" height="${H - PAD.t - PAD.b}" fill="none" stroke="#999"/>`,
  ];
  for (const t of ticks(ymin, ymax)) {
    parts.push(
      `<line x1="${x0 + PAD.l}" x2="${x0 + W - PAD.r}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`,
      `<text x="${x0 + PAD.l - 4}" y="${sy(t) + 4}" text-anchor="end" font-size="10">${t}</text>`,
    );
  }
  for (const t of ticks(xmin, xmax, 4)) {
    parts.push(`<text x="${sx(t)}" y="${H - PAD.b + 14}" text-anchor="middle" font-size="10">${t}</text>`);
  }
  parts.push(`<text x="${x0 + W / 2}" y="${H - 6}" text-anchor="middle" font-size="11">step</text>`);
  series.forEach((s, i) => {
    const good = s.points.filter(([, y]) => Number.isFinite(y));
    if (good.length === 0) return;
    const d = good.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    if (good.length === 1) {
      parts.push(`<circle cx="${sx(good[0]![0])}" cy="${sy(good[0]![1])}" r="3" fill="${s.color}"/>`);
    }
    parts.push(
      `<text x="${x0 + W - PAD.r - 4}" y="${PAD.t + 14 + i * 13}" text-anchor="end" font-size="11" fill="${s.color}">${s.label}</text>`,
    );
  });
  return parts.join('\n');
}

/** The learning curves (loss, age MAE, gender accuracy against step) as a standalone SVG document. */
export function learningCurveSvg(lines: MetricsLine[]): string {
  const at = (f: (l: MetricsLine) => number) => lines.map((l) => [l.step, f(l)] as [number, number]);
  const body = [
    panel(0, 'Joint loss', [
      { label: 'train', color: '#1f77b4', points: at((l) => l.trainLoss) },
      { label: 'validation', color: '#d62728', points: at((l) => l.valLoss) },
    ]),
    panel(W, 'Validation age MAE (years)', [{ label: 'MAE', color: '#2ca02c', points: at((l) => l.mae) }]),
    panel(2 * W, 'Validation accuracy (%)', [
      { label: 'gender', color: '#9467bd', points: at((l) => l.genderAcc * 100) },
      { label: 'age CS@5', color: '#ff7f0e', points: at((l) => l.cs5 * 100) },
    ]),
  ].join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${3 * W}" height="${H}" viewBox="0 0 ${3 * W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${body}
</svg>
`;
}

/** Writes learning-curve.svg and learning-curve.png into `dir` (atomically each). */
export async function writeLearningCurve(dir: string, lines: MetricsLine[]): Promise<void> {
  const svg = learningCurveSvg(lines);
  await writeFileAtomic(path.join(dir, 'learning-curve.svg'), svg);
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  await writeFileAtomic(path.join(dir, 'learning-curve.png'), png);
}
