import { UserError } from '../util/errors.js';
import { parseDecimal } from '../util/decimal.js';

export interface NumberRule {
  int?: boolean;
  /** Also take 1e-3 (only where people write values that way: a learning rate). */
  exponent?: boolean;
  min: number;
  max?: number;
}

/**
 * Parses a numeric flag or fails with a one-line error naming it. Strict: plain decimals only (no `1e1`,
 * `0x1F`, `0b11`, no empty text), within [min, max]. Every command's numeric flags go through here.
 */
export function num(name: string, text: string, opts: NumberRule): number {
  const n = parseDecimal(String(text), { int: opts.int, exponent: opts.exponent });
  if (n === null || n < opts.min || n > (opts.max ?? Infinity)) {
    const kind = opts.int ? 'an integer' : 'a number';
    const range = opts.max != null ? `in ${opts.min}..${opts.max}` : `>= ${opts.min}`;
    throw new UserError(`${name} "${text}": expected ${kind} ${range}`);
  }
  return n;
}
