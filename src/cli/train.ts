import { Command, Option } from 'commander';
import type { BackendChoice, Precision } from '../engine/backend-choices.js';
import { backendOption, precisionOption } from './backend-option.js';
import { UserError } from '../util/errors.js';
import type { Arch } from '../model/index.js';
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
  evalEvery: string;
  checkpointEvery: string;
  seed: string;
  backend: BackendChoice;
  precision: Precision;
  threads?: string;
  augment: boolean;
  ageSigma: string;
  resume?: boolean;
  json?: boolean;
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
    .option('--train-csv <file>', 'training rows, seed schema filename,age,gender')
    .option('--val-csv <file>', 'validation rows (scored in full at every eval)')
    .option('--img-size <px>', 'input side of the network', '64')
    .option('--num-steps <n>', 'training steps (default: 16 epochs)')
    .option('--epochs <n>', 'passes over the training CSV (alternative to --num-steps)')
    .option('--batch-size <n>', 'images per step', '64')
    .option(
      '--lr <rate>',
      'peak Adam learning rate, warm-up then cosine decay (default: 0.002, basic-cnn 0.001)',
    )
    .addOption(
      new Option('--arch <name>', 'network')
        .choices(['resnet-xs', 'resnet-s', 'resnet-m', 'basic-cnn'])
        .default('resnet-xs'),
    )
    .option('--eval-every <steps>', 'score the whole validation set every N steps', '500')
    .option('--checkpoint-every <steps>', 'save a checkpoint every N steps (and on Ctrl-C)', '250')
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
    .action(async (flags: TrainFlags) => {
      if (flags.numSteps != null && flags.epochs != null) {
        throw new UserError('give --num-steps or --epochs, not both');
      }
      const { train } = await import('../train/trainer.js');
      const { DEFAULT_LR } = await import('../model/index.js');
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
        lr: flags.lr != null ? num('--lr', flags.lr, { min: 1e-8, max: 10 }) : DEFAULT_LR[flags.arch as Arch],
        arch: flags.arch,
        evalEvery: num('--eval-every', flags.evalEvery, { int: true, min: 1 }),
        checkpointEvery: num('--checkpoint-every', flags.checkpointEvery, { int: true, min: 0 }),
        seed: num('--seed', flags.seed, { int: true, min: 0, max: 2 ** 32 - 1 }),
        backend: flags.backend,
        precision: flags.precision,
        threads:
          flags.threads != null ? num('--threads', flags.threads, { int: true, min: 1, max: 64 }) : undefined,
        augment: flags.augment,
        ageSigma: num('--age-sigma', flags.ageSigma, { min: 0, max: 50 }),
        json: flags.json,
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
