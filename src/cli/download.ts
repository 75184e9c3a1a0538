import type { Command } from 'commander';

/** Placeholder until the download command lands (owned by its issue). */
export function register(_program: Command): void {}
