import { Argument, type Command } from 'commander';
import { UserError } from '../util/errors.js';
import type { OptionsOf, Schema } from '../util/option-schema.js';
import { addFlags, typedFlags } from './flags.js';
import { stopOnSignals } from './stop-signal.js';

export interface SchemaCommand<S extends Schema, R> {
  /** The library function (imported lazily, so one command does not load another's code). */
  run: (options: OptionsOf<S>) => Promise<R>;
  /** The result for people; `--json` prints the result itself instead. */
  text: (result: R) => string;
  /** A result that is still a failure: its one-line reason (printed after the result; exit status 1). */
  fail?: (result: R) => string | undefined;
  /** Lines for stderr whatever the output format (a checkpoint skipped, say). */
  warnings?: (result: R) => string[];
  /** Options the command takes as positional arguments, in order (`download <dataset>`). */
  args?: (keyof S & string)[];
  /** For a long run: what the first Ctrl-C does; the library then gets an AbortSignal. */
  stopping?: string;
}

/**
 * A command made from its option schema: the schema's flags plus `--json`. Its action passes the library
 * function the options the user typed (the library fills in the defaults), progress on stderr unless
 * `--json`, and Ctrl-C as an AbortSignal; then prints the result as text, or as one line of JSON.
 */
export function schemaCommand<S extends Schema, R>(
  command: Command,
  options: S,
  spec: SchemaCommand<S, R>,
): Command {
  for (const name of spec.args ?? []) {
    const option = options[name]!;
    const arg = new Argument(`<${name}>`, option.help);
    command.addArgument(option.type === 'choice' ? arg.choices(option.choices) : arg);
  }
  return addFlags(command, options)
    .option('--json', `print the result as JSON on stdout${'progress' in options ? ', no progress' : ''}`)
    .action(async (...values: unknown[]) => {
      const json = Boolean((values[spec.args?.length ?? 0] as { json?: boolean }).json);
      const given: Record<string, unknown> = { ...typedFlags(command, options) };
      spec.args?.forEach((name, i) => (given[name] = values[i]));
      if ('progress' in options && !json) given.progress = 'stderr';
      const stop = spec.stopping && 'signal' in options ? stopOnSignals(spec.stopping) : undefined;
      if (stop) given.signal = stop.signal;
      try {
        const result = await spec.run(given as OptionsOf<S>);
        for (const w of spec.warnings?.(result) ?? []) console.error(`agegender: warning: ${w}`);
        console.log(json ? JSON.stringify(result) : spec.text(result));
        const failure = spec.fail?.(result);
        if (failure) throw new UserError(failure);
      } finally {
        stop?.dispose();
      }
    });
}
