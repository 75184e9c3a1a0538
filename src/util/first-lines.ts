/**
 * A log that shows the first `max` lines and then one line saying how many more there were, so that a
 * run where every image is missing prints a dozen lines, not thousands. Call `finish()` at the end.
 */
export function firstLines(
  log: (line: string) => void,
  max = 10,
  more = (n: number) => `... and ${n} more like these (not shown)`,
): { line: (text: string) => void; finish: () => void } {
  let seen = 0;
  return {
    line(text) {
      if (++seen <= max) log(text);
    },
    finish() {
      if (seen > max) log(more(seen - max));
    },
  };
}
