/**
 * Bounded load test of `agegender serve` on 127.0.0.1: a fixed number of POST /v1/predict requests with
 * a real UTKFace face, from autocannon. Reports requests/s, p50/p99 latency, errors (must be zero) and
 * the server's RSS before and after; and, as the peer, the same predictor called in-process on the same
 * image, so the ratio shows what HTTP, the checks and the queue cost.
 *
 *   npx tsx bench/serve-load.ts [--requests 200] [--detect-requests 40] [--connections 4] [--model-dir DIR] [--json]
 *     [--backend auto|wasm+dnnl|wasm]  (the engine of both the server and the in-process peer)
 *
 * Two cases: a 200x200 face crop with detect=false (the model alone), and a 960x640 photo with two faces
 * and detection on (detector + model; ~10x slower per request, hence fewer requests).
 *
 * The server is the real CLI in a child process (its RSS is read from /proc). Without --model-dir it
 * serves models/default, or an untrained bundle of the project's architecture when that is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Predictor } from '../src/infer/predictor.js';
import { pickUtkface, repoRoot, utkfaceDir } from '../test/helpers/fixtures.js';
import { makeGroupPhoto } from '../test/helpers/predict-photos.js';
import { realBundle } from '../test/helpers/serve-fixtures.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '200' },
    'detect-requests': { type: 'string', default: '40' },
    connections: { type: 'string', default: '4' },
    'model-dir': { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    json: { type: 'boolean', default: false },
  },
});
const requests = Number(args.requests);
const detectRequests = Number(args['detect-requests']);
const connections = Number(args.connections);

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function startServer(modelDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(repoRoot, 'test/helpers/run-cli.ts'),
      'serve',
      '--port',
      '0',
      '--model-dir',
      modelDir,
      '--backend',
      args.backend,
      '--no-log',
    ],
    { cwd: repoRoot, stdio: ['ignore', 'inherit', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
      const m = / at (http:\/\/[^/\s]+)\//.exec(err);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return { child, url };
}

interface Row {
  case: string;
  requests: number;
  connections: number;
  reqPerS: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  directPerS: number;
  ratio: number;
}

async function load(url: string, body: Buffer, query: string, amount: number): Promise<autocannon.Result> {
  return autocannon({
    url: `${url}/v1/predict?${query}`,
    method: 'POST',
    headers: { 'content-type': 'image/jpeg' },
    body,
    amount,
    connections,
    timeout: 60,
  });
}

/** The peer: the same predictor in this process, one image at a time, same count. */
async function direct(predictor: Predictor, body: Buffer, detect: boolean, amount: number): Promise<number> {
  await predictor.predict(body, { detect });
  const t0 = performance.now();
  for (let i = 0; i < amount; i++) await predictor.predict(body, { detect });
  return amount / ((performance.now() - t0) / 1000);
}

const bundle = args['model-dir']
  ? { dir: path.resolve(args['model-dir']), temporary: false, cleanup: async () => {} }
  : await realBundle();
const crop = readFileSync(path.join(utkfaceDir, pickUtkface(1, 3)[0]!.file));
const group = (await makeGroupPhoto({ sizes: [200, 180], samples: pickUtkface(2, 11), background: 'plain' }))
  .jpeg;
const cases = [
  { name: 'face crop, detect=false', body: crop, detect: false, amount: requests },
  { name: '2-face 960x640 photo, detect=true', body: group, detect: true, amount: detectRequests },
];

// Peer first, alone on the CPU; then the server, alone.
const predictor = await Predictor.load({ modelDir: bundle.dir, backend: args.backend });
const directRates: number[] = [];
for (const c of cases) directRates.push(await direct(predictor, c.body, c.detect, c.amount));
predictor.dispose();

const { child, url } = await startServer(bundle.dir);
const rows: Row[] = [];
let rssBefore = NaN;
let rssAfter = NaN;
try {
  // Warm-up (loads the detector, compiles kernels), then the memory baseline.
  for (const c of cases) {
    const res = await fetch(`${url}/v1/predict?detect=${c.detect}`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(c.body),
    });
    if (res.status !== 200) throw new Error(`warm-up: ${res.status} ${await res.text()}`);
  }
  rssBefore = rssMiB(child.pid!);
  for (const [i, c] of cases.entries()) {
    const r = await load(url, c.body, `detect=${c.detect}`, c.amount);
    rows.push({
      case: c.name,
      requests: r.requests.total,
      connections,
      reqPerS: Math.round((r.requests.total / (r.duration || 1)) * 10) / 10,
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      errors: r.errors + r.timeouts,
      non2xx: r.non2xx,
      directPerS: Math.round(directRates[i]! * 10) / 10,
      ratio: 0,
    });
    rows.at(-1)!.ratio = Math.round((rows.at(-1)!.reqPerS / directRates[i]!) * 100) / 100;
  }
  rssAfter = rssMiB(child.pid!);
} finally {
  child.kill('SIGTERM');
  await bundle.cleanup();
}

const summary = {
  model: bundle.dir,
  temporaryModel: bundle.temporary,
  rssBeforeMiB: rssBefore,
  rssAfterMiB: rssAfter,
  rows,
};
if (args.json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  console.log(
    `model: ${bundle.dir}${bundle.temporary ? ' (untrained resnet-xs 64 px: models/default absent)' : ''}`,
  );
  console.log(`server RSS: ${rssBefore} MiB after warm-up, ${rssAfter} MiB after the load`);
  console.table(
    rows.map((r) => ({
      case: r.case,
      'req/s': r.reqPerS,
      'p50 ms': r.p50Ms,
      'p99 ms': r.p99Ms,
      errors: r.errors,
      'non-2xx': r.non2xx,
      'in-process/s': r.directPerS,
      'HTTP/in-process': r.ratio,
    })),
  );
}
const failed = rows.some((r, i) => r.errors > 0 || r.non2xx > 0 || r.requests < cases[i]!.amount);
if (failed) {
  console.error('serve-load: errors or non-2xx answers under load');
  process.exitCode = 1;
}
