import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { readLabelsCsv } from '../../data/labels-csv.js';
import { defaultPreprocessSpec, type FaceCropRule, type PreprocessSpec } from '../../data/preprocess-spec.js';
import { loadBundle } from '../../infer/bundle.js';
import { buildAgeGenderNet } from '../../model/agegender-net.js';
import { BACKBONES, type Backbone } from '../../model/backbones/index.js';
import type { SetReport } from '../../model/metrics.js';
import { UserError } from '../../util/errors.js';
import { exists } from '../../util/exists.js';
import { setupBackend } from '../backend-setup.js';
import { throwIfStopped } from '../fit.js';
import { writeServingBundle } from '../serving-export.js';
import { trainFullPhase } from './full-phase.js';
import { trainHeadsPhase } from './heads-phase.js';
import type { DataSet, FinetuneSettings } from './options.js';
import { withFolderLock } from '../../util/folder-lock.js';
import { makeDir } from '../../util/make-dir.js';
import { skipLog } from '../../util/skip-log.js';

/**
 * Fine-tuning the pretrained dlib face-recognition ResNet into an age/gender model (the recipe of
 * models/default, model/agegender-net.ts):
 *
 * 1. Phase "heads" (heads-phase.ts): the backbone frozen, its features cached, the heads trained on them.
 * 2. Phase "full" (`fullEpochs`, 3 in the recipe, 0 to skip; full-phase.ts): every layer, the backbone
 *    included, on decoded images with photo-like augmentation, at a twentieth of the heads' learning rate.
 *    Slow (~40 images/s on 2 cores) but the only phase that reshapes the identity features; `initFrom`
 *    starts it from an existing bundle (models/default, say) instead of phase 1.
 * 3. The bundle: one ordinary layers model, image -> trunk -> tail -> heads, with the backbone's
 *    preprocessing (150 px, mean-RGB / 255) in its preprocess.json.
 *
 * Several datasets can be given (e.g. UTKFace and AAF); each is scored on its own validation CSV, and the
 * training rows of all are pooled.
 */

export interface FinetuneResult {
  servingDir: string;
  trainImages: number;
  wallSeconds: number;
  validation: SetReport[];
}

export async function finetune(
  opts: FinetuneSettings,
  /** Face-crop rule stored in the bundle: how predict frames detected faces like the training crops. */
  faceCrop: FaceCropRule | null,
): Promise<FinetuneResult> {
  throwIfStopped(opts.signal, 'finetune');
  const t0 = Date.now();
  const sets: DataSet[] = opts.data.map((dir) => ({
    name: path.basename(path.resolve(dir)),
    imgDir: path.join(dir, 'crop'),
    trainCsv: path.join(dir, 'train.csv'),
    valCsv: path.join(dir, 'val.csv'),
  }));
  if (opts.featureCache && (await fs.stat(opts.featureCache).catch(() => null))?.isDirectory() === false)
    throw new UserError(`${opts.featureCache}: exists and is a file, not a folder`);
  // One run at a time in a run folder: a second one fails at once, naming the first (util/folder-lock.ts).
  await makeDir(opts.modelDir);
  return withFolderLock(opts.modelDir, 'agegender finetune', () =>
    finetuneInFolder(opts, faceCrop, sets, t0),
  );
}

async function finetuneInFolder(
  opts: FinetuneSettings,
  faceCrop: FaceCropRule | null,
  sets: DataSet[],
  t0: number,
): Promise<FinetuneResult> {
  const log = opts.log ?? (opts.json ? () => {} : (l: string) => process.stderr.write(l + '\n'));
  const skips = skipLog(log);
  if (await exists(path.join(opts.modelDir, 'serving')))
    throw new UserError(`${opts.modelDir}: already holds a run; use another --model-dir`);
  // Read every CSV first: a wrong path fails in a second, before the backbone is built.
  const refit = refitSets(sets, opts.includeVal);
  const csvRows = await Promise.all(
    sets.map(async (set) => ({
      train: await readLabelsCsv(set.trainCsv),
      val: await readLabelsCsv(set.valCsv),
    })),
  );
  const engine = await setupBackend(opts.backend, opts.threads);
  const history: object[] = [];
  const record = async (line: object) => {
    history.push(line);
    await fs.appendFile(path.join(opts.modelDir, 'metrics.jsonl'), JSON.stringify(line) + '\n');
  };

  let model: tf.LayersModel;
  let spec: PreprocessSpec;
  let validation: SetReport[] = [];
  let trainImages = 0;
  const backbone = BACKBONES[opts.backbone];
  if (opts.initFrom) {
    ({ model, spec } = await startFromBundle(opts.initFrom, backbone));
    log(
      `finetune: starting from ${opts.initFrom} (${(model.countParams() / 1e6).toFixed(2)}M params), ${engine}`,
    );
  } else {
    spec = { ...defaultPreprocessSpec(backbone.inputSize), normalization: backbone.normalization, faceCrop };
    const net = await buildAgeGenderNet(backbone, opts);
    model = net.image;
    log(`finetune: ${backbone.name} backbone (${backbone.source}), ${engine}; caching the heads' features`);
    const cacheDir = opts.featureCache ?? path.join(opts.modelDir, 'feature-cache');
    ({ validation, trainImages } = await trainHeadsPhase(
      net,
      spec,
      sets,
      csvRows,
      refit,
      { ...opts, cacheDir },
      log,
      record,
      skips.skip,
    ));
  }

  // Phase "full": the whole network on decoded, augmented images: the training rows and the validation
  // rows of the refit sets.
  if (opts.fullEpochs > 0) {
    const part = (which: 'train' | 'val') =>
      sets.map((set, i) => ({ name: set.name, imgDir: set.imgDir, rows: csvRows[i]![which] }));
    const val = part('val');
    ({ validation, trainImages } = await trainFullPhase(
      model,
      spec,
      [...part('train'), ...val.filter((_, i) => refit[i])],
      val,
      {
        epochs: opts.fullEpochs,
        batchSize: opts.fullBatchSize,
        lr: opts.fullLr ?? opts.lr / 20,
        ageSigma: opts.ageSigma,
        centredAgeTargets: opts.centredAgeTargets,
        ageBalance: opts.ageBalance,
        seed: opts.seed,
        signal: opts.signal,
        json: opts.json,
        log,
        record,
        onSkip: skips.skip,
      },
    ));
  }

  skips.finish();
  // Test-time flip averaging is switched on in the bundle when it scored better on validation (it doubles
  // the network's cost per face).
  const gain = validation.reduce((g, v) => g + (v.mae - v.flip.mae), 0) / validation.length;
  spec.flipAverage = gain > 0.02;
  log(
    `test-time flip: validation MAE ${gain >= 0 ? '-' : '+'}${Math.abs(gain).toFixed(3)} years -> ${spec.flipAverage ? 'on' : 'off'}`,
  );
  const { log: _log, signal: _signal, json: _json, progress: _progress, ...settings } = opts;
  const metrics = {
    arch: backbone.name,
    backbone: { id: backbone.id, source: backbone.source },
    imageSize: backbone.inputSize,
    settings,
    trainImages,
    ...(refit.some(Boolean) ? { valSeenInTraining: sets.filter((_, i) => refit[i]).map((s) => s.name) } : {}),
    validation,
    history,
  };
  const servingDir = await writeServingBundle(model, opts.modelDir, spec, metrics, opts.weights);
  log(`exported ${servingDir}`);
  return { servingDir, trainImages, wallSeconds: (Date.now() - t0) / 1000, validation };
}

/**
 * `initFrom`: a serving bundle built on this backbone (e.g. models/default) as the start. A bundle of a
 * network trained from scratch, or on another backbone, has other layers and preprocessing: refused, or
 * the run would train it as something it is not and record it as this backbone.
 */
async function startFromBundle(
  dir: string,
  backbone: Backbone,
): Promise<{ model: tf.LayersModel; spec: PreprocessSpec }> {
  const { model, spec } = await loadBundle(dir);
  const ours =
    model.layers.some((l) => l.name.startsWith(backbone.layerPrefix)) &&
    spec.imageSize === backbone.inputSize;
  if (!ours) {
    const arch = await fs.readFile(path.join(dir, 'metrics.json'), 'utf8').then(
      (t) => (JSON.parse(t) as { arch?: string }).arch,
      () => undefined,
    );
    model.dispose();
    throw new UserError(
      `--init-from ${dir}: a ${arch ?? `non-${backbone.name}`} bundle (${spec.imageSize} px), not one made by ` +
        `finetune (${backbone.name} backbone, ${backbone.inputSize} px, e.g. models/default)`,
    );
  }
  return { model, spec };
}

/** Per set: are its validation rows trained on too (includeVal)? Unknown names are a one-line error. */
function refitSets(sets: DataSet[], includeVal: boolean | string[]): boolean[] {
  if (includeVal === true) return sets.map(() => true);
  const names = includeVal || [];
  const unknown = names.find((n) => !sets.some((s) => s.name === n));
  if (unknown)
    throw new UserError(
      `--include-val ${unknown}: no such data set (the sets are ${sets.map((s) => s.name).join(', ')})`,
    );
  return sets.map((s) => names.includes(s.name));
}
