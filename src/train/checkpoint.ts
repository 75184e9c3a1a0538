import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { StreamState } from '../data/dataset-stream.js';
import type { PreprocessSpec } from '../data/preprocess-spec.js';
import { weightBytes } from '../engine/model-io.js';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.js';
import { UserError, reason } from '../util/errors.js';
import type { EvalReport } from '../model/metrics.js';

/**
 * Training checkpoints. Each one is a directory `ckpt-<step>/` that appears complete or not at all
 * (written into a temp directory, then renamed), and `checkpoint.json` (replaced atomically) names the
 * latest. Older checkpoints are deleted only after the pointer has moved, and the one before the latest
 * is kept, so a kill -9 at any moment leaves a whole checkpoint that the pointer (or, failing that, a
 * directory scan) finds, and a latest one damaged afterwards (a full disk, a bad copy) has a fallback.
 */

type NamedTensor = { name: string; tensor: tf.Tensor };

const POINTER = 'checkpoint.json';

/** Everything besides tensors that a resumed run needs to continue exactly where this one stopped. */
export interface RunState {
  format: 'agegender-checkpoint';
  version: 1;
  /** Steps done. */
  step: number;
  totalSteps: number;
  /** Where the training stream stands (epoch, position in the epoch's shuffled order). */
  stream: StreamState;
  arch: string;
  imageSize: number;
  batchSize: number;
  lr: number;
  seed: number;
  ageSigma: number;
  augment: boolean;
  warmup?: number;
  schedule?: 'cosine' | 'constant';
  /** Steps between evaluations and between checkpoints (0: only on stop and at the end); kept for --resume. */
  evalEvery?: number;
  checkpointEvery?: number;
  imgDir: string;
  trainCsv: string;
  valCsv: string;
  /** Smoothed training loss, training seconds and eval seconds so far (for logs and img/s). */
  smoothLoss: number;
  trainSeconds: number;
  evalSeconds: number;
  lastEval: EvalReport | null;
  savedAt: string;
}

export interface Checkpoint {
  dir: string;
  state: RunState;
  spec: PreprocessSpec;
  /** Model weights in `model.weights` order (trainable and not, e.g. batch-norm moving statistics). */
  weights: tf.Tensor[];
  /** Adam's `getWeights()` list: iteration count, first moments, second moments. */
  optimizer: NamedTensor[];
  /** Set when the latest checkpoint was unreadable and this is the one before it: why the latest was skipped. */
  skipped?: { dir: string; reason: string };
}

/** Checkpoints kept: the latest, and the one before it in case the latest turns out damaged. */
const KEEP = 2;

async function encode(
  tensors: NamedTensor[],
): Promise<{ data: Uint8Array; specs: tf.io.WeightsManifestEntry[] }> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  return { data: new Uint8Array(data), specs };
}

/** A weights file, checked against the byte count its specs need (a truncated file must not decode). */
async function readSized(file: string, specs: tf.io.WeightsManifestEntry[]): Promise<Buffer> {
  const buf = await fs.readFile(file);
  const want = specs.reduce((n, s) => n + weightBytes(s), 0);
  if (buf.length !== want)
    throw new Error(`${path.basename(file)} has ${buf.length} bytes, expected ${want}`);
  return buf;
}

function decode(buf: Buffer, specs: tf.io.WeightsManifestEntry[]): tf.Tensor[] {
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const map = tf.io.decodeWeights(ab, specs);
  return specs.map((s) => map[s.name]!);
}

/** Writes a checkpoint of `model` + `optimizer` + `state`, then points `checkpoint.json` at it. */
export async function saveCheckpoint(
  modelDir: string,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  state: RunState,
  spec: PreprocessSpec,
): Promise<string> {
  const name = `ckpt-${String(state.step).padStart(8, '0')}`;
  const dir = path.join(modelDir, name);
  const weights = await encode(model.weights.map((w, i) => ({ name: `w${i}`, tensor: w.read() })));
  const optWeights = await optimizer.getWeights();
  const opt = await encode(optWeights.map((w, i) => ({ name: `o${i}`, tensor: w.tensor })));
  const optNames = optWeights.map((w) => w.name);
  await writeDirAtomic(dir, async (tmp) => {
    await fs.writeFile(path.join(tmp, 'weights.bin'), weights.data);
    await fs.writeFile(path.join(tmp, 'optimizer.bin'), opt.data);
    await fs.writeFile(
      path.join(tmp, 'tensors.json'),
      JSON.stringify({ weights: weights.specs, optimizer: opt.specs, optimizerNames: optNames }),
    );
    await fs.writeFile(path.join(tmp, 'preprocess.json'), JSON.stringify(spec, null, 2) + '\n');
    // state.json last: a directory with it is complete (the rename makes it visible anyway).
    await fs.writeFile(path.join(tmp, 'state.json'), JSON.stringify(state, null, 2) + '\n');
  });
  await writeFileAtomic(
    path.join(modelDir, POINTER),
    JSON.stringify({ latest: name, step: state.step }) + '\n',
  );
  const others = (await listCheckpoints(modelDir)).filter((n) => n !== name && n < name);
  for (const old of others.slice(0, Math.max(0, others.length - (KEEP - 1))))
    await fs.rm(path.join(modelDir, old), { recursive: true, force: true });
  // Checkpoints past this one belong to steps a resumed run is redoing: they would shadow this one.
  for (const later of (await listCheckpoints(modelDir)).filter((n) => n > name))
    await fs.rm(path.join(modelDir, later), { recursive: true, force: true });
  return dir;
}

/** Complete checkpoint directories (temp directories start with a dot and are ignored), oldest first. */
async function listCheckpoints(modelDir: string): Promise<string[]> {
  const names = await fs.readdir(modelDir).catch(() => [] as string[]);
  return names.filter((n) => /^ckpt-\d+$/.test(n)).sort();
}

/** Name of the latest complete checkpoint directory of a run, or null when it has none. */
export async function latestCheckpoint(modelDir: string): Promise<string | null> {
  try {
    const { latest } = JSON.parse(await fs.readFile(path.join(modelDir, POINTER), 'utf8')) as {
      latest: string;
    };
    await fs.access(path.join(modelDir, latest, 'state.json'));
    return path.join(modelDir, latest);
  } catch {
    // No pointer yet, or killed between renaming a checkpoint into place and moving the pointer.
    const all = await listCheckpoints(modelDir);
    for (const name of all.reverse()) {
      const ok = await fs.access(path.join(modelDir, name, 'state.json')).then(
        () => true,
        () => false,
      );
      if (ok) return path.join(modelDir, name);
    }
    return null;
  }
}

/**
 * Reads the latest checkpoint of a run (null when it has none); when it is unreadable (a truncated
 * weights.bin, say), the one before it, noting why in `skipped`. Tensors are the caller's to dispose.
 */
export async function loadCheckpoint(modelDir: string): Promise<Checkpoint | null> {
  const latest = await latestCheckpoint(modelDir);
  if (!latest) return null;
  const older = (await listCheckpoints(modelDir))
    .map((n) => path.join(modelDir, n))
    .filter((d) => d < latest)
    .reverse();
  let first: UserError | null = null;
  for (const dir of [latest, ...older]) {
    try {
      const ckpt = await readCheckpoint(dir);
      if (first) ckpt.skipped = { dir: latest, reason: first.message };
      return ckpt;
    } catch (err) {
      first ??= err as UserError;
    }
  }
  throw first!;
}

async function readCheckpoint(dir: string): Promise<Checkpoint> {
  try {
    const state = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8')) as RunState;
    const spec = JSON.parse(await fs.readFile(path.join(dir, 'preprocess.json'), 'utf8')) as PreprocessSpec;
    const meta = JSON.parse(await fs.readFile(path.join(dir, 'tensors.json'), 'utf8')) as {
      weights: tf.io.WeightsManifestEntry[];
      optimizer: tf.io.WeightsManifestEntry[];
      optimizerNames: string[];
    };
    const weights = decode(await readSized(path.join(dir, 'weights.bin'), meta.weights), meta.weights);
    const opt = decode(await readSized(path.join(dir, 'optimizer.bin'), meta.optimizer), meta.optimizer);
    return {
      dir,
      state,
      spec,
      weights,
      optimizer: opt.map((tensor, i) => ({ name: meta.optimizerNames[i]!, tensor })),
    };
  } catch (err) {
    throw new UserError(`${dir}: unreadable checkpoint: ${reason(err)}`);
  }
}
