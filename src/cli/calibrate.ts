import type { Command } from 'commander';
import { CALIBRATE_OPTIONS } from '../api/calibrate.js';
import { schemaCommand } from './command.js';

/** `agegender calibrate`: measure how the face detector's box sits in the training crops (api/calibrate.ts). */
export function register(program: Command): void {
  const command = program
    .command('calibrate')
    .description(
      "measure how detected face boxes sit inside the training crops; store it in the bundle's preprocess.json",
    );
  schemaCommand(command, CALIBRATE_OPTIONS, {
    run: async (options) => (await import('../api/calibrate.js')).calibrate(options),
    text: ({ faceCrop: c, ...r }) =>
      `${r.written ? `wrote faceCrop to ${r.file}` : 'measured (not written)'}: detector ${c.detector}, ` +
      `scale ${c.scale} (MAD ${c.mad?.scale}), dx ${c.dx} (MAD ${c.mad?.dx}), dy ${c.dy} (MAD ${c.mad?.dy}) ` +
      `from ${c.samples} of ${c.tried} crops (${r.skipped} without exactly one face, ${r.unreadable} unreadable)`,
  });
}
