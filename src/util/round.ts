/** `v` rounded to `digits` decimals: answers carry only the digits that mean something. */
export function round(v: number, digits: number): number {
  return Math.round(v * 10 ** digits) / 10 ** digits;
}
