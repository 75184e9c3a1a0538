import { Command, CommanderError } from 'commander';
import { UserError, reason } from '../util/errors.js';
import { register as registerTrain } from './train.js';
import { register as registerFinetune } from './finetune.js';
import { register as registerEvaluate } from './evaluate.js';
import { register as registerExport } from './export.js';
import { register as registerPreprocess } from './preprocess.js';
import { register as registerDownload } from './download.js';
import { register as registerPredict } from './predict.js';
import { register as registerCalibrate } from './calibrate.js';
import { register as registerServe } from './serve.js';

/** Exit status of a usage error. */
const USAGE = 2;

/**
 * The `agegender` command line. Each command lives in its own small file that only parses arguments and
 * imports its implementation lazily, so `agegender predict` does not pay for loading the trainer.
 */
export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('agegender')
    .description('Train and serve a multi-task CNN that predicts age and gender from face images.')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of [
    registerTrain,
    registerFinetune,
    registerEvaluate,
    registerExport,
    registerPreprocess,
    registerDownload,
    registerPredict,
    registerCalibrate,
    registerServe,
  ]) {
    register(program);
  }
  // Errors before a command's action starts are usage errors (an unknown flag, a bad flag value): they
  // exit 2, the convention; errors of the work itself exit 1.
  let parsing = true;
  program.hook('preAction', () => {
    parsing = false;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exitCode = err.exitCode === 0 ? 0 : USAGE;
      return;
    }
    if (err instanceof UserError) {
      console.error(`agegender: ${err.message}`);
      process.exitCode = parsing ? USAGE : err.exitCode;
      return;
    }
    console.error(`agegender: internal error: ${reason(err)}`);
    if (process.env.AGEGENDER_DEBUG) console.error(err);
    process.exitCode = 1;
  }
}
