#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm install` (the `prepare` script).
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(`agegender: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
