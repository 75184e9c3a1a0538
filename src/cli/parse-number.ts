import { UserError } from '../util/errors.js';

/** Parses a numeric flag or fails with a one-line error naming it. */
export function num(name: string, text: string, opts: { int?: boolean; min: number; max?: number }): number {
  const n = Number(text);
  if (
    !Number.isFinite(n) ||
    (opts.int && !Number.isInteger(n)) ||
    n < opts.min ||
    n > (opts.max ?? Infinity)
  ) {
    const kind = opts.int ? 'an integer' : 'a number';
    throw new UserError(
      `${name} "${text}": expected ${kind} >= ${opts.min}${opts.max != null ? ` and <= ${opts.max}` : ''}`,
    );
  }
  return n;
}
