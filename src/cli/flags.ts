import { type Command, Option } from 'commander';
import type { OptionSpec, OptionsOf, Schema } from '../util/option-schema.js';
import { num } from './parse-number.js';

/**
 * A command's flags, made from its option schema (src/util/option-schema.ts): `--kebab-name` per option, the
 * schema's help, range and default in `--help`, numbers parsed strictly with a one-line error naming the
 * flag. No default is given to commander: an option the user did not type stays unset, and the library
 * function fills in the schema's default, so a default lives in one place.
 */
export function addFlags(command: Command, schema: Schema, only?: readonly string[]): Command {
  for (const [key, spec] of Object.entries(schema)) {
    if (spec.cli === false || (only && !only.includes(key))) continue;
    command.addOption(flagOf(key, spec));
  }
  return command;
}

/**
 * The options the user typed (and nothing else), typed by the schema: pass it on to the library function,
 * which adds the defaults.
 */
export function typedFlags<S extends Schema>(command: Command, schema: S): OptionsOf<S> {
  const values = command.opts();
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(schema))
    if (command.getOptionValueSource(key) === 'cli') out[key] = values[key];
  return out as OptionsOf<S>;
}

/** The flag a user typed for `key`, for messages: `--feature-cache`. */
function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

function flagOf(key: string, spec: OptionSpec): Option {
  const name = flagName(key);
  const help = spec.help + defaultText(spec);
  switch (spec.type) {
    case 'int':
    case 'number': {
      const rule = { int: spec.type === 'int', min: spec.min, max: spec.max, exponent: 'exponent' in spec };
      return mandatory(new Option(`${name} <${spec.arg ?? 'n'}>`, help), spec).argParser((text) =>
        num(name, text, rule),
      );
    }
    case 'choice':
      return mandatory(new Option(`${name} <${spec.arg ?? 'name'}>`, help).choices(spec.choices), spec);
    case 'path':
      return mandatory(new Option(`${name} <${spec.arg ?? 'path'}>`, help), spec);
    case 'paths':
      return mandatory(new Option(`${name} <${spec.arg ?? 'dir'}>`, help), spec).argParser(
        (text, prev: string[] | undefined) => [...(prev ?? []), text],
      );
    case 'boolean':
      // A switch that is on by default is turned off with --no-<name>.
      return spec.default === true
        ? new Option(`--no-${name.slice(2)}`, spec.help)
        : new Option(name, spec.help);
    case 'custom': {
      const arg = spec.optionalArg ? `[${spec.arg ?? 'value'}]` : `<${spec.arg ?? 'value'}>`;
      const option = mandatory(new Option(`${name} ${arg}`, help), spec);
      return spec.parse ? option.argParser((text) => spec.parse!(text, name)) : option;
    }
  }
}

function mandatory(option: Option, spec: OptionSpec): Option {
  return 'required' in spec && spec.required ? option.makeOptionMandatory() : option;
}

function defaultText(spec: OptionSpec): string {
  if (spec.defaultHelp) return ` (default: ${spec.defaultHelp})`;
  if (!('default' in spec) || spec.default === undefined || spec.type === 'boolean') return '';
  const d = spec.default;
  return ` (default: ${Array.isArray(d) ? d.join(' ') : String(d)})`;
}
