import path from 'node:path';
import type { FaceCropRule } from '../data/preprocess-spec.js';
import { BACKEND } from '../engine/engine-options.js';
import { PROGRESS, SIGNAL } from '../util/run-options.js';
import { DETECTOR } from './predict-options.js';
import { withProgress } from './progress.js';
import { defineOptions, resolveOptions, type OptionsOf } from '../util/option-schema.js';

/** `agegender calibrate`'s options, declared once for the CLI and the library. */
export const CALIBRATE_OPTIONS = defineOptions({
  modelDir: {
    type: 'path',
    required: true,
    arg: 'dir',
    help: 'serving bundle whose preprocess.json gets the faceCrop rule',
  },
  imgDir: { type: 'path', required: true, arg: 'dir', help: 'folder of training face crops' },
  count: {
    type: 'int',
    min: 1,
    max: 1_000_000,
    default: 500,
    help: 'crops to measure, spread over the folder',
  },
  detector: { ...DETECTOR, default: 'ssd-mobilenetv1', defaultHelp: undefined },
  backend: BACKEND,
  dryRun: { type: 'boolean', help: 'measure and report, but leave preprocess.json as it is' },
  progress: PROGRESS,
  signal: SIGNAL,
});

export type CalibrateOptions = OptionsOf<typeof CALIBRATE_OPTIONS>;

export interface CalibrateResult {
  /** The bundle's preprocess.json. */
  file: string;
  /** false with dryRun. */
  written: boolean;
  faceCrop: FaceCropRule;
  /** Crops in which the detector found no face or several. */
  skipped: number;
  unreadable: number;
}

/**
 * Measures how the detector's boxes sit inside the training crops (the crop rule predict applies to a
 * detected face) and stores it as faceCrop in the bundle's preprocess.json, atomically.
 *
 * @example
 * import { calibrate } from 'agegender';
 * const r = await calibrate({ modelDir: 'runs/a/serving/1733200000', imgDir: 'var/utk64/crop' });
 * console.log(r.faceCrop.scale, r.faceCrop.dx, r.faceCrop.dy);
 */
export async function calibrate(options: CalibrateOptions): Promise<CalibrateResult> {
  const opts = resolveOptions('calibrate', CALIBRATE_OPTIONS, options);
  opts.signal?.throwIfAborted();
  const [{ readPreprocessSpec }, { calibrateFaceCrop, writeFaceCrop }, { loadDetector, parseDetectorName }] =
    await Promise.all([
      import('../infer/bundle.js'),
      import('../infer/calibrate.js'),
      import('../infer/detector.js'),
    ]);
  // Fail on a bad bundle before spending minutes on measurements.
  await readPreprocessSpec(opts.modelDir);
  const { leaseEngine } = await import('../engine/backend.js');
  const lease = await leaseEngine({ backend: opts.backend });
  try {
    const detector = await loadDetector(parseDetectorName(opts.detector));
    const result = await withProgress(opts.progress, async (quiet) => {
      const { createProgress } = await import('../util/progress.js');
      const progress = createProgress({ unit: 'crops', total: opts.count, json: quiet });
      let last = 0;
      try {
        return await calibrateFaceCrop(detector, {
          imgDir: opts.imgDir,
          count: opts.count,
          onProgress: (done) => {
            opts.signal?.throwIfAborted();
            progress.tick(done - last);
            last = done;
          },
        });
      } finally {
        progress.stop();
      }
    });
    if (!opts.dryRun) await writeFaceCrop(opts.modelDir, result.rule);
    return {
      file: path.join(opts.modelDir, 'preprocess.json'),
      written: !opts.dryRun,
      faceCrop: result.rule,
      skipped: result.skipped,
      unreadable: result.unreadable,
    };
  } finally {
    lease.release();
  }
}
