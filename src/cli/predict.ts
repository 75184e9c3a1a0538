import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { THREADS } from '../engine/engine-options.js';
import {
  loadPredictor,
  LOAD_PREDICTOR_OPTIONS,
  PREDICT_OPTIONS,
  type Face,
  type LoadPredictorOptions,
} from '../api/predict.js';
import { defineOptions, resolveOptions, type OptionsOf, type Schema } from '../util/option-schema.js';
import { reason } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { addFlags, typedFlags } from './flags.js';

/** `agegender predict`'s own flags (the rest are loadPredictor's and predict's, from their schemas). */
const PREDICT_CLI_OPTIONS = defineOptions({
  json: {
    type: 'boolean',
    help: 'one JSON object per line, each with its "type": face (the face fields), no_face or error',
  },
  annotate: {
    type: 'path',
    help: 'write the photo with boxes and labels (a directory when there are several images)',
  },
  batchSize: { type: 'int', min: 1, max: 1024, default: 16, help: 'images processed together' },
});

/** Up to this many photos, one engine thread: it starts ~0.4 s faster, which is what a few photos need. */
const FEW_PHOTOS = 4;
const LOAD_FLAGS = ['modelDir', 'backend', 'detector', 'minScore', 'maxPixels'] as const;

export type PredictCommandOptions = OptionsOf<typeof PREDICT_CLI_OPTIONS> &
  Pick<LoadPredictorOptions, (typeof LOAD_FLAGS)[number] | 'threads'> & { detect?: boolean };

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export function register(program: Command): void {
  const command = program
    .command('predict')
    .description(
      'find the faces in photos and print age and gender for each (e.g. "photo.jpg  face 1  M/46")',
    )
    .argument('<images...>', 'image files or directories of images');
  addFlags(command, PREDICT_CLI_OPTIONS);
  addFlags(command, PREDICT_OPTIONS, ['detect']);
  addFlags(command, LOAD_PREDICTOR_OPTIONS, LOAD_FLAGS);
  // The library's threads option, with the command's own default (see FEW_PHOTOS).
  addFlags(command, {
    threads: { ...THREADS, defaultHelp: `1 for up to ${FEW_PHOTOS} photos, else all cores` },
  });
  command.action(async (images: string[]) => {
    const opts = {
      ...typedFlags(command, PREDICT_CLI_OPTIONS),
      ...typedFlags(command, PREDICT_OPTIONS),
      ...typedFlags(command, LOAD_PREDICTOR_OPTIONS),
    };
    process.exitCode = await runPredict(images, opts);
  });
}

const IMAGE_EXT = /\.(jpe?g|png|webp|avif|gif|tiff?|bmp)$/i;

/**
 * Files to process, in the order given; a directory contributes its image files (sorted, not recursive,
 * other files ignored). A path that does not exist is reported like an unreadable image.
 */
async function expandInputs(inputs: string[]): Promise<{ files: string[]; missing: string[] }> {
  const files: string[] = [];
  const missing: string[] = [];
  for (const input of inputs) {
    let stat;
    try {
      stat = await fs.stat(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      missing.push(`${input}: ${code === 'ENOENT' ? 'no such file' : reason(err)}`);
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

/**
 * Runs predict over files and prints one line per face (text) or one JSON object per line (--json).
 * Returns the exit status: 0 when every file was read (faces or not), 1 when any file could not be.
 */
export async function runPredict(
  inputs: string[],
  options: PredictCommandOptions,
  io: Io = stdio(),
): Promise<number> {
  const opts = {
    ...options,
    ...resolveOptions('predict', PREDICT_CLI_OPTIONS, pick(options, PREDICT_CLI_OPTIONS)),
  };
  const { files, missing } = await expandInputs(inputs);
  let failed = 0;
  const reportError = (file: string, message: string) => {
    failed++;
    io.err(`agegender: ${message}`);
    if (opts.json) io.out(JSON.stringify({ type: 'error', file, error: message }));
  };
  for (const m of missing) reportError(m.slice(0, m.lastIndexOf(': ')), m);
  if (files.length === 0) {
    if (missing.length === 0)
      io.err('agegender: no images to predict (directories are searched for image files)');
    return 1;
  }

  const { annotatedTargets, annotateClash, foreignTarget } = await import('./annotate-targets.js');
  const targets = opts.annotate ? annotatedTargets(files, opts.annotate) : null;
  if (targets) {
    const clash = await annotateClash(files, targets.paths);
    if (clash) {
      io.err(
        `agegender: --annotate ${opts.annotate}: would overwrite the input photo ${clash}; ` +
          'write the annotated copies to another file or folder',
      );
      return 1;
    }
    const foreign = await foreignTarget(targets.paths);
    if (foreign) {
      io.err(
        `agegender: --annotate ${opts.annotate}: ${foreign} exists and was not written by agegender; ` +
          'remove it or write the annotated copies elsewhere',
      );
      return 1;
    }
  }

  const predictor = await loadPredictor({
    ...pick(opts, LOAD_PREDICTOR_OPTIONS),
    threads: opts.threads ?? (files.length <= FEW_PHOTOS ? 1 : undefined),
  });
  // Which engine runs, for a person watching (stderr stays quiet for scripts and --json).
  if (process.stderr.isTTY && !opts.json) io.err(`agegender: engine ${predictor.engine}`);
  let warned = 0;
  const flushWarnings = () => {
    for (; warned < predictor.warnings.length; warned++)
      io.err(`agegender: warning: ${predictor.warnings[warned]}`);
  };
  if (targets?.dir) await fs.mkdir(targets.dir, { recursive: true });
  const { annotate } = await import('../infer/annotate.js');

  // Results stream to stdout as they come; a progress line (stderr) only helps when stdout is not a terminal.
  const progress = createProgress({
    unit: 'images',
    total: files.length,
    json: opts.json || files.length < 2 || process.stdout.isTTY,
  });
  try {
    for (let start = 0; start < files.length; start += opts.batchSize) {
      const chunk = files.slice(start, start + opts.batchSize);
      const settled = await predictor.predictEach(chunk, { detect: opts.detect ?? true });
      flushWarnings();
      for (const [k, result] of settled.entries()) {
        const file = chunk[k]!;
        if (!result.ok) {
          reportError(file, result.error.message);
          continue;
        }
        printFaces(file, result.faces, opts.json, io);
        if (targets) {
          const target = targets.paths[start + k]!;
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
    await predictor.dispose();
  }
  return failed > 0 ? 1 : 0;
}

/**
 * Text: `file  face N  M/46  (box x,y,w,h)`, or `file  no face found`. JSON: `{"type":"face","file",
 * "index",...face}` with the face fields of src/api/face-schema.ts, or `{"type":"no_face","file"}`.
 */
function printFaces(file: string, faces: Face[], json: boolean | undefined, io: Io): void {
  if (faces.length === 0) {
    io.out(json ? JSON.stringify({ type: 'no_face', file }) : `${file}  no face found`);
    return;
  }
  faces.forEach((f, i) => {
    const { box, score, age, ageSpread, gender, pMale, pFemale, label } = f;
    const face = { box, score, age, ageSpread, gender, pMale, pFemale, label };
    if (json) io.out(JSON.stringify({ type: 'face', file, index: i + 1, ...face }));
    else io.out(`${file}  face ${i + 1}  ${f.label}  (box ${box.x},${box.y},${box.w},${box.h})`);
  });
}

/** The options of `schema` that `opts` sets: each function gets only its own options. */
function pick<S extends Schema>(opts: object, schema: S): OptionsOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(opts)) if (key in schema && value !== undefined) out[key] = value;
  return out as OptionsOf<S>;
}

function stdio(): Io {
  return {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
  };
}
