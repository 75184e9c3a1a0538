import path from 'node:path';
import { createProgress } from '../util/progress.js';
import { readPreprocessSpec } from './bundle.js';
import { calibrateFaceCrop, writeFaceCrop } from './calibrate.js';
import { loadDetector, parseDetectorName } from './detector.js';
import { ensureBackend } from './tf-backend.js';

export interface CalibrateCommandOptions {
  modelDir: string;
  imgDir: string;
  count?: number;
  detector?: string;
  backend?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** `agegender calibrate`: measures the crop rule and stores it as faceCrop in the bundle's preprocess.json. */
export async function runCalibrate(opts: CalibrateCommandOptions): Promise<void> {
  // Fail on a bad bundle before spending minutes on measurements.
  await readPreprocessSpec(opts.modelDir);
  await ensureBackend(opts.backend ?? 'auto');
  const detector = await loadDetector(parseDetectorName(opts.detector ?? 'ssd-mobilenetv1'));
  const count = opts.count ?? 500;
  const progress = createProgress({ unit: 'crops', total: count, json: opts.json });
  let last = 0;
  const result = await calibrateFaceCrop(detector, {
    imgDir: opts.imgDir,
    count,
    onProgress: (done) => {
      progress.tick(done - last);
      last = done;
    },
  });
  progress.stop();
  if (!opts.dryRun) await writeFaceCrop(opts.modelDir, result.rule);
  const file = path.join(opts.modelDir, 'preprocess.json');
  if (opts.json) {
    console.log(
      JSON.stringify({
        file,
        written: !opts.dryRun,
        faceCrop: result.rule,
        skipped: result.skipped,
        unreadable: result.unreadable,
      }),
    );
  } else {
    const r = result.rule;
    console.log(
      `${opts.dryRun ? 'measured (not written)' : `wrote faceCrop to ${file}`}: detector ${r.detector}, ` +
        `scale ${r.scale} (MAD ${r.mad?.scale}), dx ${r.dx} (MAD ${r.mad?.dx}), dy ${r.dy} (MAD ${r.mad?.dy}) ` +
        `from ${r.samples} of ${r.tried} crops (${result.skipped} without exactly one face, ${result.unreadable} unreadable)`,
    );
  }
}
