import { Command } from 'commander';
import { backendOption } from './backend-option.js';
import { num } from './parse-number.js';

interface ServeFlags {
  port: string;
  host: string;
  modelDir?: string;
  backend: string;
  detector?: string;
  maxBodyMb: string;
  maxPixels: string;
  concurrency: string;
  queue: string;
  log: boolean;
  shutdownTimeout: string;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the HTTP API (POST /v1/predict) and the web page (GET /)')
    .option('--port <n>', 'TCP port (0 picks a free one)', '8080')
    .option(
      '--host <addr>',
      'address to listen on (0.0.0.0 for all interfaces, e.g. in a container)',
      '127.0.0.1',
    )
    .option(
      '--model-dir <dir>',
      'serving bundle (model.json, weights.bin, preprocess.json); default: models/default',
    )
    .addOption(backendOption())
    .option(
      '--detector <name>',
      "face detector: ssd-mobilenetv1 or tiny-face-detector (default: the bundle's)",
    )
    .option('--max-body-mb <n>', 'largest request body in MiB (413 above)', '10')
    .option(
      '--max-pixels <n>',
      'largest image in pixels, read from its header before decoding (413 above)',
      '40000000',
    )
    .option('--concurrency <n>', 'inferences run at once', '1')
    .option('--queue <n>', 'requests that may wait for an inference slot (503 + Retry-After beyond)', '16')
    .option('--no-log', 'no request log lines on stdout')
    .option(
      '--shutdown-timeout <s>',
      'on SIGTERM/SIGINT, seconds requests in flight may take before their connections are cut',
      '10',
    )
    .action(async (flags: ServeFlags) => {
      const opts = {
        port: num('--port', flags.port, { int: true, min: 0, max: 65535 }),
        host: flags.host,
        modelDir: flags.modelDir,
        backend: flags.backend,
        detector: flags.detector,
        log: flags.log,
        shutdownTimeoutS: num('--shutdown-timeout', flags.shutdownTimeout, { min: 0, max: 3600 }),
        limits: {
          maxBodyBytes: Math.round(num('--max-body-mb', flags.maxBodyMb, { min: 0.001 }) * 1024 * 1024),
          maxPixels: num('--max-pixels', flags.maxPixels, { int: true, min: 1 }),
          concurrency: num('--concurrency', flags.concurrency, { int: true, min: 1, max: 64 }),
          queue: num('--queue', flags.queue, { int: true, min: 0 }),
        },
      };
      const { runServe } = await import('../serve/run.js');
      await runServe(opts);
    });
}
