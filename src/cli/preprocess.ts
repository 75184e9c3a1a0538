import type { Command } from 'commander';
import { DATASETS, type DatasetName, type PreprocessSummary, preprocessSchema } from '../api/preprocess.js';
import { schemaCommand } from './command.js';

/** `agegender preprocess <dataset>`: one subcommand per dataset adapter (src/data/datasets/). */
export function register(program: Command): void {
  const pre = program
    .command('preprocess')
    .description('turn a face dataset into square crops plus train/val/test CSVs (filename,age,gender)');
  for (const name of Object.keys(DATASETS) as DatasetName[]) {
    const command = pre.command(name).description(DATASETS[name].description);
    schemaCommand(command, preprocessSchema(name), {
      run: async (options) => (await import('../api/preprocess.js')).preprocess(name, options as never),
      warnings: (summary) => summary.warnings,
      text: formatSummary,
      fail: (s) =>
        s.counts.kept === 0
          ? `${s.files.train}: no rows kept (see summary.json beside it for why)`
          : undefined,
    });
  }
}

/** The summary for people (--json prints summary.json's content instead). */
function formatSummary(s: PreprocessSummary): string {
  const lines = [
    `${s.dataset}: ${Object.entries(s.counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  ];
  if (s.crops)
    lines.push(
      `crops: ${s.crops.written} written, ${s.crops.reused} reused, ${s.crops.imagesPerSecond} images/s (${s.crops.seconds}s)`,
    );
  if (s.duplicates)
    lines.push(
      `duplicates (hash distance <= ${s.duplicates.maxDistance}): ${s.duplicates.clusters} clusters of ` +
        `${s.duplicates.duplicateImages} images, each kept on one side of the split; ` +
        `${s.duplicates.conflictingClusters} clusters with conflicting labels dropped ` +
        `(${s.duplicates.droppedConflicting} images)`,
    );
  const pct = (n: number, d: number) => (d ? `${((100 * n) / d).toFixed(1)}%` : '-');
  lines.push(
    `gender: ${s.gender.male} male (${pct(s.gender.male, s.counts.kept!)}), ${s.gender.female} female`,
  );
  for (const [name, p] of Object.entries(s.split))
    if (p.rows || name !== 'test')
      lines.push(`${name}: ${p.rows} rows, ${p.identities} identities, ${p.male} male / ${p.female} female`);
  for (const u of s.examples.unreadable.slice(0, 5)) lines.push(`unreadable: ${u.file}: ${u.reason}`);
  lines.push(`wrote ${[s.files.train, s.files.val, s.files.test].filter(Boolean).join(', ')}, summary.json`);
  return lines.join('\n');
}
