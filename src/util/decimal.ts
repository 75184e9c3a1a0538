/**
 * Plain decimal numbers only: `42`, `-3`, `0.5`, `.5`, `1.`. `Number()` alone also takes `1e1`, `0x1F`,
 * `0b11`, `Infinity`, ` ` and `''` (as 0), none of which a person means as an age or a flag value.
 */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)$/;
const INTEGER = /^[+-]?\d+$/;
/** Decimal with an exponent, for the one kind of value people write that way (a learning rate, 1e-3). */
const SCIENTIFIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The value of a plain decimal number text, or null for anything else (see DECIMAL). */
export function parseDecimal(text: string, opts: { int?: boolean; exponent?: boolean } = {}): number | null {
  const t = text.trim();
  if (!(opts.int ? INTEGER : opts.exponent ? SCIENTIFIC : DECIMAL).test(t)) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}
