/**
 * Where a run reports the images it could not read: each file once (a training stream meets a missing one
 * every epoch), the first `max` by name, then one line counting the rest, so a run over a folder where most
 * images are missing prints a dozen lines, not thousands. Call `finish()` when the run ends.
 */
export function skipLog(
  log: (line: string) => void,
  max = 10,
): { skip: (file: string, why: string) => void; finish: () => void } {
  const files = new Set<string>();
  return {
    skip(file, why) {
      if (files.has(file)) return;
      files.add(file);
      if (files.size <= max) log(`skipped ${file}: ${why}`);
    },
    finish() {
      if (files.size > max) log(`... and ${files.size - max} more images skipped (not shown)`);
    },
  };
}
