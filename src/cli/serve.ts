import { Command } from 'commander';
import { SERVE_OPTIONS } from '../serve/options.js';
import { addFlags, typedFlags } from './flags.js';

/**
 * `agegender serve`: the library's serve() plus what only a command does: a line saying where to point a
 * browser, and closing on SIGINT/SIGTERM (requests in flight finish, up to --shutdown-timeout, so a
 * container stop does not cut answers in half and a hung client cannot keep the process up).
 */
export function register(program: Command): void {
  const command = program
    .command('serve')
    .description('serve the HTTP API (POST /v1/predict) and the web page (GET /)');
  addFlags(command, SERVE_OPTIONS).action(async () => {
    const { serve } = await import('../serve/serve.js');
    const opts = typedFlags(command, SERVE_OPTIONS);
    const server = await serve(opts);
    const { predictor, url } = server;
    for (const w of predictor.warnings) console.error(`agegender: warning: ${w}`);
    // One plain line for people (the JSON log lines follow): where to point a browser or curl.
    console.error(
      `agegender: serving model ${predictor.modelDir} at ${url}/ (API: ${url}/openapi.json) on ${predictor.engine}`,
    );
    let closing = false;
    const close = (signal: string) => {
      if (closing) return;
      closing = true;
      const graceS = opts.shutdownTimeout ?? SERVE_OPTIONS.shutdownTimeout.default;
      console.error(`agegender: ${signal}, closing (requests in flight get ${graceS} s to finish)`);
      server.close().then(
        ({ cut }) => {
          if (cut > 0) console.error(`agegender: cut ${cut} connections still open after ${graceS} s`);
          process.exit(0);
        },
        () => process.exit(1),
      );
    };
    process.once('SIGINT', () => close('SIGINT'));
    process.once('SIGTERM', () => close('SIGTERM'));
  });
}
