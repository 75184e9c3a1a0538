import { FINETUNE_OPTIONS } from '../train/finetune/options.js';
import type { FinetuneResult } from '../train/finetune/run.js';
import { InvalidOptionError } from '../util/errors.js';
import { resolveOptions, type OptionsOf } from '../util/option-schema.js';
import { withProgress } from './progress.js';

export { FINETUNE_OPTIONS };
export type { FinetuneResult };

export type FinetuneOptions = OptionsOf<typeof FINETUNE_OPTIONS>;

/**
 * Fine-tunes the pretrained dlib face-recognition backbone into an age/gender model: heads trained on
 * cached backbone features (a few thousand faces train in minutes), optionally every layer on images, and
 * exports a serving bundle whose preprocess.json carries the backbone's preprocessing. The defaults are
 * the default model's recipe.
 *
 * @example
 * import { finetune } from 'agegender';
 * const r = await finetune({ modelDir: 'runs/mine', data: ['var/mine'] });
 * console.log(r.validation[0].flip.mae, r.servingDir);
 */
export async function finetune(options: FinetuneOptions): Promise<FinetuneResult> {
  const opts = resolveOptions('finetune', FINETUNE_OPTIONS, options);
  if (opts.initFrom && opts.fullEpochs === 0)
    throw new InvalidOptionError(
      'finetune: initFrom needs fullEpochs > 0 (the bundle is trained further on images)',
    );
  const [{ finetune: run }, { UTKFACE_FACE_CROP }] = await Promise.all([
    import('../train/finetune/run.js'),
    import('../infer/crop-rule.js'),
  ]);
  // The crops `preprocess` makes (UTKFace chips, detector-framed AAF) are framed by this rule.
  const faceCrop = UTKFACE_FACE_CROP['ssd-mobilenetv1'];
  return withProgress(opts.progress, (quiet) => run({ ...opts, json: quiet }, faceCrop));
}
