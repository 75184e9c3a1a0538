import { withFolderLock } from '../util/folder-lock.js';
import { makeDir } from '../util/make-dir.js';
import type { DatasetAdapter, FrameFaces } from './datasets/dataset.js';
import { claimOutputFolder } from './output-folder.js';
import { assertNotAnOutput } from './output-set.js';
import { prepareDataset, type PrepareOptions, type PreprocessSummary } from './prepare-dataset.js';

/** The settings every dataset shares (the api layer resolves them from the common options). */
export type PreprocessSettings = Omit<PrepareOptions, 'dataset' | 'counts' | 'input' | 'warnings'>;

/**
 * `preprocess <dataset>`: the adapter reads the labels, then the shared back half crops, finds
 * duplicates, splits and writes the CSVs and summary.json into the output folder. The folder is locked
 * for the run (a second run into it is refused, naming this one) and must be empty or agegender's own.
 */
export async function preprocessDataset<A extends DatasetAdapter<any>>(
  adapter: A,
  options: Parameters<A['read']>[0],
  settings: PreprocessSettings,
  frameFaces: FrameFaces,
): Promise<PreprocessSummary> {
  const ctx = {
    labelsOnly: settings.labelsOnly,
    outputDir: settings.outputDir,
    quiet: settings.json,
    frameFaces,
  };
  await makeDir(settings.outputDir);
  return withFolderLock(settings.outputDir, `agegender preprocess ${adapter.name}`, async () => {
    await claimOutputFolder(settings.outputDir);
    const read = await adapter.read(options, ctx);
    await assertNotAnOutput(
      settings.outputDir,
      (read.inputFiles ?? []).map(({ option, file }) => ({ flag: flagOf(option), file })),
    );
    return prepareDataset(read.rows, {
      ...settings,
      crop: { ...settings.crop, ...read.crop },
      dataset: adapter.name,
      counts: read.counts,
      input: read.input,
      warnings: read.warnings,
    });
  });
}

/** `dbPath` -> `--db-path`, as the command line spells it. */
function flagOf(option: string): string {
  return '--' + option.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}
