import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './fixtures.js';

/** The browser entry as `npm run build` makes it (scripts/build-web.mjs). */
export const webBuildDir = path.join(repoRoot, 'dist', 'web');

/**
 * Builds dist/web (esbuild, ~5 s): always with `fresh` (a browser test must run the current src/web),
 * else only when it is missing (a test that only checks it is served).
 */
export async function ensureWebBuild(opts: { fresh?: boolean } = {}): Promise<string> {
  if (opts.fresh || !existsSync(path.join(webBuildDir, 'agegender.js'))) {
    await promisify(execFile)(process.execPath, [path.join(repoRoot, 'scripts', 'build-web.mjs')], {
      cwd: repoRoot,
    });
  }
  return webBuildDir;
}
