import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.js';

/**
 * The files one `preprocess` run writes beside crop/. They only make sense together (train.csv and
 * val.csv of one split; summary.json describing them), so they are replaced as a set: see
 * replaceOutputSet.
 */
export const OUTPUT_SET = [
  'train.csv',
  'val.csv',
  'test.csv',
  'age-histogram.svg',
  'age-histogram.png',
  'summary.json',
] as const;
export type OutputName = (typeof OUTPUT_SET)[number];

/** Staging folder inside the output folder (same file system, so the renames are atomic). */
const STAGING = '.outputs-staging';
/** Written into the staging folder once every new file is there: the point of no return. */
const COMPLETE = '.complete.json';

/** Test seam: called before each step that changes what the output folder shows (a kill may land there). */
export type StepHook = (step: string) => void | Promise<void>;

async function fsyncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, 'r').catch(() => null);
  await h?.sync().catch(() => {});
  await h?.close();
}

/**
 * Fails when an input file of the run is one of the files it would write (e.g. `preprocess csv
 * --csv labels/train.csv --output-dir labels`): the run would overwrite its own input.
 */
export async function assertNotAnOutput(outDir: string, inputs: { flag: string; file: string }[]) {
  const real = (p: string) => fs.realpath(p).catch(() => path.resolve(p));
  const outputs = new Set(await Promise.all(OUTPUT_SET.map((n) => real(path.join(outDir, n)))));
  for (const { flag, file } of inputs)
    if (outputs.has(await real(file)))
      throw new UserError(
        `${flag} ${file}: is one of the files this command writes into --output-dir ${outDir}; ` +
          'choose another --output-dir (the input would be overwritten)',
      );
}

/**
 * Replaces the output set of `outDir` so that a kill -9 at any moment never leaves files of two runs side
 * by side (train.csv of the new split with val.csv of the old one would put the same people on both
 * sides). Every new file is first written and synced into a staging folder, which is then marked
 * complete; only then are the old files removed (summary.json first) and the new ones renamed in
 * (summary.json last). At any instant the folder shows the old set, part of the old set, part of the new
 * set or the whole new set; summary.json is there only when its set is complete. An interrupted switch is
 * finished by the next run (recoverOutputSet). `null` content means the run has no such file (test.csv
 * with a two-part split): the old one is removed.
 */
export async function replaceOutputSet(
  outDir: string,
  files: Partial<Record<OutputName, string | Uint8Array | null>>,
  onStep: StepHook = () => {},
): Promise<void> {
  await recoverOutputSet(outDir);
  const staging = path.join(outDir, STAGING);
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { recursive: true });
  const write = OUTPUT_SET.filter((n) => files[n] != null);
  for (const name of write) {
    const h = await fs.open(path.join(staging, name), 'w');
    try {
      await h.writeFile(files[name]!);
      await h.sync();
    } finally {
      await h.close();
    }
  }
  await fsyncDir(staging);
  await onStep('complete');
  await fs.writeFile(path.join(staging, COMPLETE), JSON.stringify({ write }) + '\n');
  await fsyncDir(staging);
  await switchIn(outDir, write, onStep);
}

/** Finishes a switch a killed run had committed to; drops a staging folder it had not. */
export async function recoverOutputSet(outDir: string): Promise<void> {
  const staging = path.join(outDir, STAGING);
  const marker = await fs.readFile(path.join(staging, COMPLETE), 'utf8').catch(() => null);
  if (marker === null) {
    await fs.rm(staging, { recursive: true, force: true });
    return;
  }
  const { write } = JSON.parse(marker) as { write: OutputName[] };
  await switchIn(outDir, write, () => {});
}

async function switchIn(outDir: string, write: readonly OutputName[], onStep: StepHook): Promise<void> {
  const staging = path.join(outDir, STAGING);
  const staged = new Set(await fs.readdir(staging));
  // Old files go first, summary.json before the rest; files already switched in by a killed run stay.
  const old = ['summary.json', ...OUTPUT_SET.filter((n) => n !== 'summary.json')] as OutputName[];
  for (const name of old) {
    if (write.includes(name) && !staged.has(name)) continue; // already the new one
    await onStep(`remove ${name}`);
    await fs.rm(path.join(outDir, name), { force: true });
  }
  const order = [...write.filter((n) => n !== 'summary.json'), ...write.filter((n) => n === 'summary.json')];
  for (const name of order) {
    if (!staged.has(name)) continue;
    await onStep(`rename ${name}`);
    await fs.rename(path.join(staging, name), path.join(outDir, name));
  }
  await fsyncDir(outDir);
  await fs.rm(staging, { recursive: true, force: true });
}
