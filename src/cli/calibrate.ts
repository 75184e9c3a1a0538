import type { Command } from 'commander';
import { CALIBRATE_OPTIONS } from '../api/calibrate.js';
import { addFlags, typedFlags } from './flags.js';

/** `agegender calibrate`: measure how the face detector's box sits in the training crops (api/calibrate.ts). */
export function register(program: Command): void {
  const command = program
    .command('calibrate')
    .description(
      "Measure how detected face boxes sit inside the training crops; store it in the bundle's preprocess.json.",
    );
  addFlags(command, CALIBRATE_OPTIONS)
    .option('--json', 'print the result as JSON, no progress')
    .action(async (flags: { json?: boolean }) => {
      const { calibrate } = await import('../api/calibrate.js');
      const r = await calibrate({
        ...typedFlags(command, CALIBRATE_OPTIONS),
        progress: flags.json ? undefined : 'stderr',
      });
      if (flags.json) {
        console.log(JSON.stringify(r));
        return;
      }
      const c = r.faceCrop;
      console.log(
        `${r.written ? `wrote faceCrop to ${r.file}` : 'measured (not written)'}: detector ${c.detector}, ` +
          `scale ${c.scale} (MAD ${c.mad?.scale}), dx ${c.dx} (MAD ${c.mad?.dx}), dy ${c.dy} (MAD ${c.mad?.dy}) ` +
          `from ${c.samples} of ${c.tried} crops (${r.skipped} without exactly one face, ${r.unreadable} unreadable)`,
      );
    });
}
