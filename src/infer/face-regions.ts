import { promises as fs } from 'node:fs';
import path from 'node:path';
import { decodeRgb, type SquareRegion } from '../data/image.js';
import type { FaceCropRule } from '../data/preprocess-spec.js';
import { writeFileAtomic } from '../util/atomic.js';
import { reason } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { loadDetector, type DetectorName } from './detector.js';
import { cropRegion } from './crop-rule.js';
import { detectWithMargin } from './predictor.js';
import { ensureBackend } from './tf-backend.js';

/**
 * Frames training photos exactly as `predict` frames faces: the same detector (with its second pass on
 * a black canvas for tight crops), the best-scoring face, and the bundle's crop rule (crop-rule.ts). Crops
 * cut from these regions (data/image.ts, cropSquare) are then what the model sees at predict time, which
 * removes the train/serve skew of training on a dataset's own framing and predicting on detector boxes.
 *
 * Detection is the slow part (~50 ms a photo on 2 cores), so results are kept in `cacheFile` and a re-run
 * with the same detector and rule only detects new photos.
 */
export interface LocateOptions {
  detector: DetectorName;
  rule: FaceCropRule;
  minScore?: number;
  cacheFile: string;
  json?: boolean;
  backend?: string;
}

export interface Located<T> {
  rows: (T & { region: SquareRegion })[];
  counts: { noFace: number; unreadable: number; severalFaces: number };
  examples: { noFace: string[]; unreadable: { file: string; reason: string }[] };
}

type CacheEntry = { region: SquareRegion | null; faces: number } | { error: string };

export function framingId(detector: DetectorName, rule: FaceCropRule): string {
  return `${detector} scale ${rule.scale} dx ${rule.dx} dy ${rule.dy}`;
}

export async function locateFaces<T extends { source: string }>(
  rows: readonly T[],
  opts: LocateOptions,
): Promise<Located<T>> {
  const id = framingId(opts.detector, opts.rule) + ` minScore ${opts.minScore ?? 'default'}`;
  let cache: Record<string, CacheEntry> = {};
  try {
    const stored = JSON.parse(await fs.readFile(opts.cacheFile, 'utf8')) as {
      id: string;
      faces: Record<string, CacheEntry>;
    };
    if (stored.id === id) cache = stored.faces;
  } catch {
    /* first run */
  }
  const todo = rows.filter((r) => !(path.resolve(r.source) in cache));
  if (todo.length > 0) {
    await ensureBackend(opts.backend ?? 'auto');
    const detector = await loadDetector(opts.detector);
    const progress = createProgress({ unit: 'photos', total: todo.length, json: opts.json });
    let sinceSave = 0;
    const save = () => writeFileAtomic(opts.cacheFile, JSON.stringify({ id, faces: cache }) + '\n');
    for (const row of todo) {
      const key = path.resolve(row.source);
      try {
        const img = await decodeRgb(row.source);
        const found = await detectWithMargin(detector, img, opts.minScore);
        const best = found.reduce<(typeof found)[number] | null>(
          (a, d) => (!a || d.score > a.score ? d : a),
          null,
        );
        const r = best ? cropRegion(best.box, opts.rule) : null;
        cache[key] = { region: r && { x: r.x, y: r.y, w: r.w }, faces: found.length };
      } catch (err) {
        cache[key] = { error: reason(err) };
      }
      progress.tick(1);
      if (++sinceSave >= 500) {
        sinceSave = 0;
        await save();
      }
    }
    progress.stop();
    await fs.mkdir(path.dirname(opts.cacheFile), { recursive: true });
    await save();
  }
  const out: Located<T> = {
    rows: [],
    counts: { noFace: 0, unreadable: 0, severalFaces: 0 },
    examples: { noFace: [], unreadable: [] },
  };
  for (const row of rows) {
    const entry = cache[path.resolve(row.source)]!;
    if ('error' in entry) {
      out.counts.unreadable++;
      if (out.examples.unreadable.length < 20)
        out.examples.unreadable.push({ file: row.source, reason: entry.error });
    } else if (!entry.region) {
      out.counts.noFace++;
      if (out.examples.noFace.length < 20) out.examples.noFace.push(row.source);
    } else {
      if (entry.faces > 1) out.counts.severalFaces++;
      out.rows.push({ ...row, region: entry.region });
    }
  }
  return out;
}

/**
 * For datasets whose photos are already aligned alike (AAF: eyes level at a fixed place, 160 px wide): the
 * detector + crop rule run on `sample` photos spread over the set, and the median region, in units of
 * the photo's width, is applied to every photo. It costs `sample` detections instead of one per photo
 * (~1 s each on a loaded 2-core machine), and frames faces as predict does on average; per-photo
 * detection (`locateFaces`) is the exact alternative.
 */
export async function locateFacesByMedian<T extends { source: string }>(
  rows: readonly T[],
  opts: LocateOptions & { sample: number },
): Promise<Located<T> & { median: { x: number; y: number; side: number; samples: number } }> {
  const step = Math.max(1, Math.floor(rows.length / Math.max(1, opts.sample)));
  const picked = rows.filter((_, i) => i % step === 0).slice(0, opts.sample);
  const located = await locateFaces(picked, opts);
  const widths = new Map<string, number>();
  const sharp = (await import('sharp')).default;
  const rel: { x: number; y: number; side: number }[] = [];
  for (const r of located.rows) {
    const meta = await sharp(r.source).rotate().metadata();
    const w = (meta.autoOrient?.width ?? meta.width)!;
    widths.set(r.source, w);
    rel.push({ x: r.region.x / w, y: r.region.y / w, side: r.region.w / w });
  }
  if (rel.length === 0) throw new Error(`the detector found no face in ${picked.length} sampled photos`);
  const median = (v: number[]) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const m = {
    x: median(rel.map((r) => r.x)),
    y: median(rel.map((r) => r.y)),
    side: median(rel.map((r) => r.side)),
  };
  const out: Located<T> = {
    rows: [],
    counts: { noFace: 0, unreadable: 0, severalFaces: 0 },
    examples: { noFace: [], unreadable: [] },
  };
  for (const row of rows) {
    let w = widths.get(row.source);
    if (w === undefined) {
      try {
        const meta = await sharp(row.source).rotate().metadata();
        w = (meta.autoOrient?.width ?? meta.width)!;
      } catch (err) {
        out.counts.unreadable++;
        if (out.examples.unreadable.length < 20)
          out.examples.unreadable.push({ file: row.source, reason: reason(err) });
        continue;
      }
    }
    out.rows.push({ ...row, region: { x: m.x * w, y: m.y * w, w: m.side * w } });
  }
  return { ...out, median: { ...m, samples: rel.length } };
}
