import { InvalidOptionError } from './errors.js';

/**
 * One declaration per option of a command: its name, type, range, default and help. Everything else is
 * derived from it: the library's TypeScript types (`OptionsOf`), the library's validation and defaults
 * (`resolveOptions`), and the CLI's flags (src/cli/flags.ts). No range, default or help text is written
 * a second time anywhere.
 *
 * @example
 * export const EVALUATE_OPTIONS = defineOptions({
 *   modelDir: { type: 'path', required: true, help: 'serving bundle to score' },
 *   batchSize: { type: 'int', min: 1, max: 4096, default: 64, help: 'images per batch' },
 * });
 * export type EvaluateOptions = OptionsOf<typeof EVALUATE_OPTIONS>;
 */

interface Common {
  /** One line for `--help` and the library's doc. */
  help: string;
  /** false: a library-only option (a callback, an AbortSignal), never a flag. */
  cli?: false;
  /** The value's name in `--help` (`--epochs <n>`); default from the type. */
  arg?: string;
  /** Help text for a default that depends on other options (e.g. the learning rate per network). */
  defaultHelp?: string;
}

export interface IntSpec extends Common {
  type: 'int';
  min: number;
  max: number;
  default?: number;
  required?: true;
}

export interface NumberSpec extends Common {
  type: 'number';
  min: number;
  max: number;
  default?: number;
  required?: true;
  /** The CLI also takes `1e-3` (learning rates). */
  exponent?: true;
}

export interface ChoiceSpec<C extends string = string> extends Common {
  type: 'choice';
  choices: readonly C[];
  default?: C;
  required?: true;
}

/** A file or folder path (a non-empty string). */
export interface PathSpec extends Common {
  type: 'path';
  default?: string;
  required?: true;
}

/** An on/off switch; with `default: true` the CLI flag is `--no-<name>`. */
export interface BooleanSpec extends Common {
  type: 'boolean';
  default?: boolean;
}

/** A list of paths; the CLI flag is repeated (`--data a --data b`). */
export interface PathsSpec extends Common {
  type: 'paths';
  default?: readonly string[];
  required?: true;
}

/** Anything else: `check` says whether a value is valid, `expect` says what a valid one is. */
export interface CustomSpec<T = unknown> extends Common {
  type: 'custom';
  check: (value: unknown) => value is T;
  expect: string;
  /** How the CLI reads the flag's text (throw a UserError naming the flag on bad text). */
  parse?: (text: string, flag: string) => T;
  /** The CLI flag takes an optional value (`--include-val [sets...]`). */
  optionalArg?: true;
  default?: T;
  required?: true;
}

export type OptionSpec =
  IntSpec | NumberSpec | ChoiceSpec | PathSpec | BooleanSpec | PathsSpec | CustomSpec<any>;
export type Schema = Record<string, OptionSpec>;

/** Declares a command's options; `const` keeps the literal choices and defaults for the derived types. */
export function defineOptions<const S extends Schema>(schema: S): S {
  return schema;
}

/** The TypeScript type of one option's value. */
export type ValueOf<S> = S extends { type: 'int' | 'number' }
  ? number
  : S extends { type: 'choice'; choices: readonly (infer C)[] }
    ? C
    : S extends { type: 'path' }
      ? string
      : S extends { type: 'boolean' }
        ? boolean
        : S extends { type: 'paths' }
          ? string[]
          : S extends { check: (v: unknown) => v is infer T }
            ? T
            : never;

type RequiredKeys<S extends Schema> = {
  [K in keyof S]: S[K] extends { required: true } ? K : never;
}[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** What a library caller passes: required options required, the rest optional. */
export type OptionsOf<S extends Schema> = Simplify<
  { [K in RequiredKeys<S>]: ValueOf<S[K]> } & { [K in Exclude<keyof S, RequiredKeys<S>>]?: ValueOf<S[K]> }
>;

/** What the core receives: every option with a default or `required` is set. */
export type Resolved<S extends Schema> = Simplify<{
  [K in keyof S]: S[K] extends { required: true } | { default: unknown }
    ? ValueOf<S[K]>
    : ValueOf<S[K]> | undefined;
}>;

/**
 * Checks a library caller's options against the schema and fills in the defaults. Messages name the
 * function and the option as the caller wrote it (`train: option epochs must be an integer in 1..1000, not
 * 0`), never a command-line flag; the CLI has already named the flag for anything it parsed.
 */
export function resolveOptions<S extends Schema>(fn: string, schema: S, opts: unknown): Resolved<S> {
  if (opts !== undefined && (opts === null || typeof opts !== 'object' || Array.isArray(opts)))
    throw new InvalidOptionError(`${fn}: options must be an object, not ${describe(opts)}`);
  const given = (opts ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given))
    if (!(key in schema))
      throw new InvalidOptionError(
        `${fn}: unknown option "${key}" (expected one of ${Object.keys(schema).sort().join(', ')})`,
      );
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const value = given[key];
    if (value === undefined) {
      if ('required' in spec && spec.required)
        throw new InvalidOptionError(`${fn}: option ${key} is required (${expected(spec)})`);
      out[key] = 'default' in spec && Array.isArray(spec.default) ? [...spec.default] : spec.default;
      continue;
    }
    if (!isValid(spec, value))
      throw new InvalidOptionError(`${fn}: option ${key} must be ${expected(spec)}, not ${describe(value)}`);
    out[key] = value;
  }
  return out as Resolved<S>;
}

/** Does `value` satisfy the option's type and range? */
function isValid(spec: OptionSpec, value: unknown): boolean {
  switch (spec.type) {
    case 'int':
    case 'number':
      return (
        typeof value === 'number' &&
        Number.isFinite(value) &&
        (spec.type === 'number' || Number.isInteger(value)) &&
        value >= spec.min &&
        value <= spec.max
      );
    case 'choice':
      return typeof value === 'string' && spec.choices.includes(value);
    case 'path':
      return typeof value === 'string' && value.length > 0;
    case 'boolean':
      return typeof value === 'boolean';
    case 'paths':
      return Array.isArray(value) && value.every((v) => typeof v === 'string' && v.length > 0);
    case 'custom':
      return spec.check(value);
  }
}

/** What a valid value is, in words: `an integer in 1..1000`, `one of f32, bf16`. */
function expected(spec: OptionSpec): string {
  switch (spec.type) {
    case 'int':
      return `an integer in ${spec.min}..${spec.max}`;
    case 'number':
      return `a number in ${spec.min}..${spec.max}`;
    case 'choice':
      return `one of ${spec.choices.join(', ')}`;
    case 'path':
      return 'a non-empty string';
    case 'boolean':
      return 'true or false';
    case 'paths':
      return 'a list of non-empty strings';
    case 'custom':
      return spec.expect;
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}
