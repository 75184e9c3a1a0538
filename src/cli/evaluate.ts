import type { Command } from 'commander';
import { EVALUATE_OPTIONS, type EvaluateResult } from '../api/evaluate.js';
import { schemaCommand } from './command.js';

export function register(program: Command): void {
  const command = program
    .command('evaluate')
    .description('score a model on a labelled CSV: age MAE, CS@5, gender accuracy, by age band and gender');
  schemaCommand(command, EVALUATE_OPTIONS, {
    run: async (options) => (await import('../api/evaluate.js')).evaluate(options),
    text: formatEvaluation,
  });
}

/** The human-readable report: headline figures, then one row per age band and gender. */
export function formatEvaluation(r: EvaluateResult): string {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const lines = [
    `model ${r.model}`,
    `${r.n} images scored${r.skipped ? `, ${r.skipped} skipped (missing or unreadable)` : ''}`,
    `age MAE ${r.mae.toFixed(2)} years | CS@5 ${pct(r.cs5)} | gender accuracy ${pct(r.genderAcc)}`,
    '',
    `${'age'.padEnd(6)} ${'gender'.padEnd(7)} ${'n'.padStart(6)} ${'MAE'.padStart(6)} ${'CS@5'.padStart(7)} ${'gender acc'.padStart(10)}`,
  ];
  for (const b of r.bands ?? []) {
    lines.push(
      `${b.band.padEnd(6)} ${b.gender.padEnd(7)} ${String(b.n).padStart(6)} ${b.mae.toFixed(2).padStart(6)} ` +
        `${pct(b.cs5).padStart(7)} ${pct(b.genderAcc).padStart(10)}`,
    );
  }
  return lines.join('\n');
}
