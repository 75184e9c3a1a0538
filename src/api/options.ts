import { InvalidOptionError } from '../util/errors.js';

/**
 * Checks of a library caller's options object. Messages name the function and the option as the caller
 * wrote it (`loadPredictor: unknown option "minscore"`), never a command-line flag.
 */
export function checkKnownOptions(fn: string, opts: unknown, allowed: readonly string[]): void {
  if (opts === undefined) return;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new InvalidOptionError(`${fn}: options must be an object, not ${describe(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key)) {
      throw new InvalidOptionError(
        `${fn}: unknown option "${key}" (expected one of ${[...allowed].sort().join(', ')})`,
      );
    }
  }
}

export interface NumberRule {
  int?: boolean;
  min?: number;
  max?: number;
}

/** An optional number option within its range; undefined stays undefined. */
export function checkNumber(fn: string, name: string, value: unknown, rule: NumberRule = {}): void {
  if (value === undefined) return;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!rule.int || Number.isInteger(value)) &&
    (rule.min === undefined || value >= rule.min) &&
    (rule.max === undefined || value <= rule.max);
  if (!ok) {
    const kind = rule.int ? 'an integer' : 'a number';
    const range =
      rule.min !== undefined && rule.max !== undefined
        ? ` in ${rule.min}..${rule.max}`
        : rule.min !== undefined
          ? ` >= ${rule.min}`
          : rule.max !== undefined
            ? ` <= ${rule.max}`
            : '';
    throw new InvalidOptionError(`${fn}: option ${name} must be ${kind}${range}, not ${describe(value)}`);
  }
}

/** An optional option that must be one of a few strings. */
export function checkChoice(fn: string, name: string, value: unknown, choices: readonly string[]): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || !choices.includes(value)) {
    throw new InvalidOptionError(
      `${fn}: option ${name} must be one of ${choices.join(', ')}, not ${describe(value)}`,
    );
  }
}

/** An option that must be a non-empty string (a path); `required` makes undefined an error too. */
export function checkString(fn: string, name: string, value: unknown, required = false): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionError(
      `${fn}: option ${name} ${required ? 'is required and ' : ''}must be a non-empty string, not ${describe(value)}`,
    );
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}
