import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './fixtures.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout split into lines, without the trailing empty one. */
  lines: string[];
}

/** Runs `agegender ARGS...` (from source, through tsx) in the repo root and collects its output. */
export function runCli(args: string[], opts: { cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'test', 'helpers', 'run-cli.ts'), ...args],
      { cwd: opts.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout, stderr, lines: stdout.split('\n').filter((l) => l.length > 0) }),
    );
  });
}
