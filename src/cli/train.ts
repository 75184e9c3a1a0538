import { Command, Option } from 'commander';
import {
  type BackendChoice,
  type Precision,
  WEIGHT_STORAGES,
  type WeightStorage,
} from '../engine/backend-choices.js';
import { backendOption, precisionOption } from './backend-option.js';
import { UserError } from '../util/errors.js';
import { ARCHS, DEFAULT_ARCH, type Arch } from '../model/arch-names.js';
import { num } from './parse-number.js';

interface TrainFlags {
  imgDir?: string;
  trainCsv?: string;
  valCsv?: string;
  modelDir: string;
  imgSize: string;
  numSteps?: string;
  epochs?: string;
  batchSize: string;
  lr?: string;
  arch: string;
  evalEvery?: string;
  checkpointEvery?: string;
  seed: string;
  backend: BackendChoice;
  precision: Precision;
  threads?: string;
  augment: boolean;
  ageSigma: string;
  resume?: boolean;
  json?: boolean;
  backbone?: string;
  data: string[];
  hidden: string;
  dropout: string;
  featureCache?: string;
  features: 'multi' | 'fine' | 'pooled';
  includeVal?: boolean | string[];
  augmentViews: string;
  ensemble: string;
  weights: WeightStorage;
  fullEpochs: string;
  fullLr?: string;
  fullBatchSize?: string;
  initFrom?: string;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train the multi-task age/gender network and export a serving bundle')
    .requiredOption(
      '--model-dir <dir>',
      'run directory: metrics.jsonl, learning curves, checkpoints, serving/<timestamp>/',
    )
    .option('--img-dir <dir>', 'directory the CSV filenames are relative to')
    .option('--train-csv <file>', 'training rows, CSV filename,age,gender (gender 1 = male)')
    .option('--val-csv <file>', 'validation rows (scored in full at every eval)')
    .option('--img-size <px>', 'input side of the network', '64')
    .option('--num-steps <n>', 'training steps (default: 16 epochs)')
    .option('--epochs <n>', 'passes over the training CSV (alternative to --num-steps)')
    .option('--batch-size <n>', 'images per step', '64')
    .option(
      '--lr <rate>',
      'peak Adam learning rate, warm-up then cosine decay (default: 0.002, basic-cnn 0.001)',
    )
    .addOption(new Option('--arch <name>', 'network').choices([...ARCHS]).default(DEFAULT_ARCH))
    .option(
      '--eval-every <steps>',
      "score the whole validation set every N steps (default: 500, or the resumed run's)",
    )
    .option(
      '--checkpoint-every <steps>',
      "save a checkpoint every N steps, and on Ctrl-C (default: 250, or the resumed run's)",
    )
    .option('--seed <n>', 'seed of weights, data order and augmentation', '1')
    .addOption(backendOption())
    .addOption(precisionOption())
    .option('--threads <n>', 'threads of the engine (default: all cores)')
    .option('--no-augment', 'no random flip / shift of training images')
    .option('--age-sigma <years>', 'Gaussian soft age target std; 0 = one-hot like the seed', '2')
    .option(
      '--resume',
      "continue the run in --model-dir from its latest checkpoint, with the run's own settings",
    )
    .option('--json', 'print the result as JSON on stdout, no progress')
    .addOption(
      new Option(
        '--backbone <name>',
        'train heads on a pretrained face backbone instead of a network from scratch (features are cached)',
      ).choices(['dlib-resnet']),
    )
    .option(
      '--data <dir>',
      'with --backbone: a `preprocess` output folder (crop/, train.csv, val.csv); repeat to pool datasets',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option(
      '--full-epochs <n>',
      'with --backbone: epochs that then train every layer, backbone included, on decoded augmented images',
      '0',
    )
    .option('--full-lr <lr>', 'with --backbone: peak learning rate of the --full-epochs (default --lr / 20)')
    .option(
      '--full-batch-size <n>',
      "with --backbone: images per step of the --full-epochs (default 32; --batch-size is the heads')",
    )
    .option(
      '--init-from <bundle>',
      'with --backbone and --full-epochs: start from a serving bundle (e.g. models/default) instead of new heads',
    )
    .option(
      '--include-val [sets...]',
      'with --backbone: train on the validation rows too, of every set or of the named ones (final refit)',
    )
    .option('--hidden <units>', 'with --backbone: hidden units of the heads (0 = linear heads)', '512')
    .addOption(
      new Option(
        '--features <kind>',
        "with --backbone: 'multi' = pooled + mid-level map at 2x2, 'fine' = at 4x4, 'pooled' = pooled only",
      )
        .choices(['multi', 'fine', 'pooled'])
        .default('multi'),
    )
    .option('--dropout <p>', 'with --backbone: dropout before the heads', '0.3')
    .addOption(
      new Option('--weights <dtype>', 'with --backbone: float16 halves the bundle (read back as float32)')
        .choices([...WEIGHT_STORAGES])
        .default('float32'),
    )
    .option('--ensemble <k>', 'with --backbone: sets of heads trained side by side, logits averaged', '1')
    .option(
      '--augment-views <n>',
      'with --backbone: photo-like augmented copies per training image (jitter, blur, JPEG, colour), cached',
      '0',
    )
    .option(
      '--feature-cache <dir>',
      'with --backbone: where cached backbone features go (default <model-dir>/feature-cache)',
    )
    .action(async (flags: TrainFlags, command: Command) => {
      rejectFlagsOfTheOtherPath(command, Boolean(flags.backbone));
      if (flags.backbone) return trainWithBackbone(flags);
      if (flags.numSteps != null && flags.epochs != null) {
        throw new UserError('give --num-steps or --epochs, not both');
      }
      const { train } = await import('../api/train.js');
      const result = await train({
        modelDir: flags.modelDir,
        resume: flags.resume,
        imgDir: flags.imgDir,
        trainCsv: flags.trainCsv,
        valCsv: flags.valCsv,
        imageSize: num('--img-size', flags.imgSize, { int: true, min: 16, max: 1024 }),
        numSteps:
          flags.numSteps != null ? num('--num-steps', flags.numSteps, { int: true, min: 1 }) : undefined,
        epochs:
          flags.epochs != null
            ? num('--epochs', flags.epochs, { min: 0.001 })
            : flags.numSteps == null
              ? 16
              : undefined,
        batchSize: num('--batch-size', flags.batchSize, { int: true, min: 1, max: 4096 }),
        lr: flags.lr != null ? num('--lr', flags.lr, { min: 1e-8, max: 10, exponent: true }) : undefined,
        arch: flags.arch as Arch,
        // Unset on --resume: the run keeps the values it was started with.
        evalEvery:
          flags.evalEvery != null ? num('--eval-every', flags.evalEvery, { int: true, min: 1 }) : undefined,
        checkpointEvery:
          flags.checkpointEvery != null
            ? num('--checkpoint-every', flags.checkpointEvery, { int: true, min: 0 })
            : undefined,
        seed: num('--seed', flags.seed, { int: true, min: 0, max: 2 ** 32 - 1 }),
        backend: flags.backend,
        precision: flags.precision,
        threads:
          flags.threads != null ? num('--threads', flags.threads, { int: true, min: 1, max: 64 }) : undefined,
        augment: flags.augment,
        ageSigma: num('--age-sigma', flags.ageSigma, { min: 0, max: 50 }),
        progress: flags.json ? undefined : 'stderr',
      });
      if (flags.json) {
        console.log(JSON.stringify(result));
        return;
      }
      const v = result.validation;
      console.log(
        `val MAE ${v.mae.toFixed(2)} | CS@5 ${(v.cs5 * 100).toFixed(1)}% | gender ${(v.genderAcc * 100).toFixed(1)}% | ` +
          `${result.imagesPerSecond.toFixed(1)} img/s | ${result.servingDir}`,
      );
    });
}

/** Flags that only the --backbone path reads, and flags that only the from-scratch path reads. */
const BACKBONE_ONLY: (keyof TrainFlags)[] = [
  'data',
  'fullEpochs',
  'fullLr',
  'fullBatchSize',
  'initFrom',
  'includeVal',
  'hidden',
  'features',
  'dropout',
  'weights',
  'ensemble',
  'augmentViews',
  'featureCache',
];
const SCRATCH_ONLY: (keyof TrainFlags)[] = [
  'imgSize',
  'numSteps',
  'arch',
  'evalEvery',
  'checkpointEvery',
  'precision',
  'augment',
];

/**
 * A flag typed on the command line that the chosen path does not read is an error, not silently dropped:
 * `--full-epochs 3` without `--backbone` would otherwise train a from-scratch net and look like it worked.
 */
function rejectFlagsOfTheOtherPath(command: Command, backbone: boolean): void {
  const unread = backbone ? SCRATCH_ONLY : BACKBONE_ONLY;
  const given = unread.find((key) => command.getOptionValueSource(key) === 'cli');
  if (given === undefined) return;
  const flag = command.options.find((o) => o.attributeName() === given)!;
  throw new UserError(
    backbone
      ? `${flag.long} applies to a network trained from scratch, not with --backbone`
      : `${flag.long} applies only with --backbone (e.g. --backbone dlib-resnet)`,
  );
}

async function trainWithBackbone(flags: TrainFlags): Promise<void> {
  if (flags.resume)
    throw new UserError('--resume is not available with --backbone (a run takes minutes: start it again)');
  if ((flags.imgDir || flags.trainCsv || flags.valCsv) && !(flags.imgDir && flags.trainCsv && flags.valCsv))
    throw new UserError('give --img-dir, --train-csv and --val-csv together');
  if (flags.initFrom && Number(flags.fullEpochs) === 0)
    throw new UserError('--init-from needs --full-epochs N (the bundle is trained further)');
  const path = await import('node:path');
  const sets = flags.imgDir
    ? [
        {
          name: path.basename(path.resolve(flags.imgDir)),
          imgDir: flags.imgDir,
          trainCsv: flags.trainCsv!,
          valCsv: flags.valCsv!,
        },
      ]
    : [];
  if (flags.data.length === 0 && sets.length === 0)
    throw new UserError('--backbone needs --data <preprocess folder> (or --img-dir, --train-csv, --val-csv)');
  const { trainOnBackbone } = await import('../api/train-backbone.js');
  const result = await trainOnBackbone({
    modelDir: flags.modelDir,
    data: flags.data,
    sets,
    epochs: flags.epochs != null ? num('--epochs', flags.epochs, { int: true, min: 1, max: 1000 }) : 30,
    fullEpochs: num('--full-epochs', flags.fullEpochs, { int: true, min: 0, max: 1000 }),
    fullLr:
      flags.fullLr != null
        ? num('--full-lr', flags.fullLr, { min: 1e-9, max: 1, exponent: true })
        : undefined,
    fullBatchSize:
      flags.fullBatchSize != null
        ? num('--full-batch-size', flags.fullBatchSize, { int: true, min: 1, max: 4096 })
        : undefined,
    initFrom: flags.initFrom,
    batchSize: num('--batch-size', flags.batchSize, { int: true, min: 1, max: 4096 }),
    lr: flags.lr != null ? num('--lr', flags.lr, { min: 1e-8, max: 10, exponent: true }) : 1e-3,
    hidden: num('--hidden', flags.hidden, { int: true, min: 0, max: 8192 }),
    features: flags.features,
    augmentViews: num('--augment-views', flags.augmentViews, { int: true, min: 0, max: 16 }),
    ensemble: num('--ensemble', flags.ensemble, { int: true, min: 1, max: 32 }),
    weights: flags.weights,
    dropout: num('--dropout', flags.dropout, { min: 0, max: 0.95 }),
    ageSigma: num('--age-sigma', flags.ageSigma, { min: 0, max: 50 }),
    seed: num('--seed', flags.seed, { int: true, min: 0, max: 2 ** 32 - 1 }),
    includeVal: flags.includeVal,
    cacheDir: flags.featureCache,
    backend: flags.backend,
    threads:
      flags.threads != null ? num('--threads', flags.threads, { int: true, min: 1, max: 64 }) : undefined,
    progress: flags.json ? undefined : 'stderr',
  });
  if (flags.json) {
    console.log(JSON.stringify(result));
    return;
  }
  for (const v of result.validation)
    console.log(
      `${v.name} val (flip-averaged): MAE ${v.flip.mae.toFixed(2)} | CS@5 ${(v.flip.cs5 * 100).toFixed(1)}% | ` +
        `gender ${(v.flip.genderAcc * 100).toFixed(1)}%`,
    );
  console.log(
    `${result.trainImages} training images, ${result.wallSeconds.toFixed(0)} s | ${result.servingDir}`,
  );
}
