import type { Command } from 'commander';

/** Placeholder until the train command lands (owned by its issue). */
export function register(_program: Command): void {}
