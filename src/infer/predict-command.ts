import { promises as fs } from 'node:fs';
import path from 'node:path';
import { reason } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { annotate, isAnnotatableName } from './annotate.js';
import { loadPredictor, type DetectorOption } from '../api/predict.js';
import type { BackendChoice } from '../engine/backend-choices.js';
import type { FaceResult } from './types.js';

/** Up to this many photos, one engine thread: it starts ~0.4 s faster, which is what a few photos need. */
const FEW_PHOTOS = 4;

/** What `agegender predict` does, apart from parsing its arguments (src/cli/predict.ts). */
export interface PredictCommandOptions {
  json?: boolean;
  /** false with --no-detect: each image is one already-cropped face. */
  detect?: boolean;
  /** Output image (one input) or directory (several inputs) for photos with boxes and labels drawn. */
  annotate?: string;
  modelDir?: string;
  backend?: BackendChoice;
  /** wasm threads; default 1 for up to FEW_PHOTOS photos (faster start), else all cores. */
  threads?: number;
  detector?: DetectorOption;
  minScore?: number;
  /** Images decoded, detected and sent through the network together. */
  batchSize?: number;
}

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const IMAGE_EXT = /\.(jpe?g|png|webp|avif|gif|tiff?|bmp)$/i;

/**
 * Files to process, in the order given; a directory contributes its image files (sorted, not recursive,
 * other files ignored). A path that does not exist is reported like an unreadable image.
 */
export async function expandInputs(inputs: string[]): Promise<{ files: string[]; missing: string[] }> {
  const files: string[] = [];
  const missing: string[] = [];
  for (const input of inputs) {
    let stat;
    try {
      stat = await fs.stat(input);
    } catch (err) {
      missing.push(
        `${input}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : reason(err)}`,
      );
      continue;
    }
    if (stat.isDirectory()) {
      const names = (await fs.readdir(input)).filter((n) => IMAGE_EXT.test(n)).sort();
      files.push(...names.map((n) => path.join(input, n)));
    } else {
      files.push(input);
    }
  }
  return { files, missing };
}

function formatBox(f: FaceResult): string {
  return `${f.box.x},${f.box.y},${f.box.w},${f.box.h}`;
}

/**
 * Runs predict over files and prints one line per face (text) or one JSON object per face (--json).
 * Returns the exit status: 0 when every file was read (faces or not), 1 when any file could not be.
 */
export async function runPredict(
  inputs: string[],
  opts: PredictCommandOptions,
  io: Io = stdio(),
): Promise<number> {
  const { files, missing } = await expandInputs(inputs);
  let failed = 0;
  const reportError = (file: string, message: string) => {
    failed++;
    io.err(`agegender: ${message}`);
    if (opts.json) io.out(JSON.stringify({ file, error: message }));
  };
  for (const m of missing) reportError(m.slice(0, m.lastIndexOf(': ')), m);
  if (files.length === 0) {
    if (missing.length === 0)
      io.err('agegender: no images to predict (directories are searched for image files)');
    return 1;
  }

  // Where each annotated copy goes, decided before any work, so that no copy lands on a photo being read.
  const annotateDir =
    opts.annotate && (files.length > 1 || !isAnnotatableName(opts.annotate)) ? opts.annotate : null;
  const usedNames = new Set<string>();
  const targets = opts.annotate
    ? files.map((f) => (annotateDir ? path.join(annotateDir, annotatedName(f, usedNames)) : opts.annotate!))
    : [];
  const clash = await firstClash(files, targets);
  if (clash) {
    io.err(
      `agegender: --annotate ${opts.annotate}: would overwrite the input photo ${clash}; ` +
        'write the annotated copies to another file or folder',
    );
    return 1;
  }

  const predictor = await loadPredictor({
    modelDir: opts.modelDir,
    backend: opts.backend,
    threads: opts.threads ?? (files.length <= FEW_PHOTOS ? 1 : undefined),
    detector: opts.detector,
  });
  // Which engine runs, for a person watching (stderr stays quiet for scripts and --json).
  if (process.stderr.isTTY && !opts.json) io.err(`agegender: engine ${predictor.engine}`);
  let warned = 0;
  const flushWarnings = () => {
    for (; warned < predictor.warnings.length; warned++)
      io.err(`agegender: warning: ${predictor.warnings[warned]}`);
  };
  if (annotateDir) await fs.mkdir(annotateDir, { recursive: true });

  const batchSize = Math.max(1, opts.batchSize ?? 16);
  // Results stream to stdout as they come; a progress line (stderr) only helps when stdout is not a terminal.
  const progress = createProgress({
    unit: 'images',
    total: files.length,
    json: opts.json || files.length < 2 || process.stdout.isTTY,
  });
  try {
    for (let start = 0; start < files.length; start += batchSize) {
      const chunk = files.slice(start, start + batchSize);
      const settled = await predictor.predictEach(chunk, {
        detect: opts.detect ?? true,
        minScore: opts.minScore,
      });
      flushWarnings();
      for (const [k, result] of settled.entries()) {
        const file = chunk[k]!;
        if (!result.ok) {
          reportError(file, result.error.message);
          continue;
        }
        printFaces(file, result.faces, opts, io);
        if (opts.annotate) {
          const target = targets[start + k]!;
          try {
            await annotate(file, result.faces, target);
          } catch (err) {
            reportError(file, `${target}: cannot write annotated image: ${reason(err)}`);
          }
        }
      }
      progress.tick(chunk.length);
    }
  } finally {
    progress.stop();
    predictor.dispose();
  }
  return failed > 0 ? 1 : 0;
}

/** The first input that an annotated copy would overwrite (same file, through links too), or null. */
async function firstClash(files: string[], targets: string[]): Promise<string | null> {
  const real = (p: string) => fs.realpath(p).catch(() => path.resolve(p));
  const inputs = new Map<string, string>();
  for (const f of files) inputs.set(await real(f), f);
  for (const t of targets) {
    const hit = inputs.get(await real(t));
    if (hit) return hit;
  }
  return null;
}

function printFaces(file: string, faces: FaceResult[], opts: PredictCommandOptions, io: Io): void {
  if (faces.length === 0) {
    io.out(
      opts.json ? JSON.stringify({ file, faces: 0, message: 'no face found' }) : `${file}  no face found`,
    );
    return;
  }
  faces.forEach((f, i) => {
    if (opts.json) {
      io.out(
        JSON.stringify({
          file,
          face: i + 1,
          box: f.box,
          score: f.score,
          age: f.age,
          ageSpread: f.ageSpread,
          gender: f.gender,
          pMale: f.pMale,
          pFemale: f.pFemale,
          label: f.label,
        }),
      );
    } else {
      io.out(`${file}  face ${i + 1}  ${f.label}  (box ${formatBox(f)})`);
    }
  });
}

/**
 * Annotated copies keep the input's name (as JPEG unless the input is a format annotate can write);
 * same-named inputs from different folders get -2, -3, ... before the extension.
 */
function annotatedName(file: string, used: Set<string>): string {
  const base = isAnnotatableName(file) ? path.basename(file) : `${path.basename(file)}.jpg`;
  const ext = path.extname(base);
  let name = base;
  for (let n = 2; used.has(name); n++) name = `${base.slice(0, -ext.length)}-${n}${ext}`;
  used.add(name);
  return name;
}

function stdio(): Io {
  return {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
  };
}
