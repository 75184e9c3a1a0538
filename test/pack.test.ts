import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import type { Browser } from 'playwright-core';
import { chromiumSkip, closeChromium, launchChromium } from './helpers/chromium.js';
import { pickUtkface, repoRoot } from './helpers/fixtures.js';
import { makeGroupPhoto } from './helpers/predict-photos.js';

// What `npm pack` would publish, used as a user would: the tarball is installed into an empty project in
// the system temp folder (outside this repo, so nothing resolves to the repo's node_modules), and from
// there (a) `npx agegender predict` runs on a photo, (b) a Node script imports loadPredictor, (c) tsc
// type-checks a TypeScript file against the package's declarations, and (d) a plain HTML page loads the
// web entry in Chromium, with its default URLs, and must give the same faces as Node on the same photo.
// Dependencies come from the npm cache (--offline), else the registry (--prefer-offline).

const run = promisify(execFile);
const LABEL = /^[MF]\/\d{1,3}$/;

interface JsonFace {
  box: { x: number; y: number; w: number; h: number };
  score: number;
  age: number;
  ageSpread: number;
  gender: 'M' | 'F';
  pMale: number;
  label: string;
}

describe('npm pack, installed into an empty project', { timeout: 900_000 }, () => {
  let work: string;
  let project: string;
  let tarball: string;
  let tarballBytes = 0;
  let installError: string | null = null;
  const photo = () => path.join(project, 'photo.png');

  before(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'agegender-pack-'));
    project = path.join(work, 'consumer');
    await fs.mkdir(project);
    // `npm pack` runs the prepare script (npm run build: tsc + the web bundle), as a publish would.
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
    const info = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; size: number }[];
    tarball = path.join(work, info[0]!.filename);
    tarballBytes = (await fs.stat(tarball)).size;
    console.log(`tarball ${path.basename(tarball)}: ${(tarballBytes / 1e6).toFixed(2)} MB`);

    await fs.writeFile(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    for (const mode of ['--offline', '--prefer-offline']) {
      try {
        await run('npm', ['install', mode, '--no-audit', '--no-fund', tarball], {
          cwd: project,
          maxBuffer: 64 * 1024 * 1024,
          timeout: 600_000,
        });
        installError = null;
        console.log(`installed with npm install ${mode}`);
        break;
      } catch (err) {
        installError = `npm install ${mode} failed: ${(err as { stderr?: string }).stderr?.trim().split('\n').slice(-3).join(' ') ?? String(err)}`;
      }
    }
    // Two faces from the shared UTKFace folder on a plain background, as PNG so that Node and the
    // browser decode the very same pixels.
    const group = await makeGroupPhoto({
      sizes: [200, 180],
      samples: pickUtkface(2, 11),
      background: 'plain',
    });
    await fs.writeFile(photo(), await sharp(group.jpeg).png().toBuffer());
  });

  after(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const skipIfNotInstalled = (t: { skip: (m: string) => void }) => {
    if (installError) {
      t.skip(`cannot install the tarball without the npm registry: ${installError}`);
      return true;
    }
    return false;
  };

  test('the tarball ships the library, the web entry, the default model and its card, no tests or data', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball], { maxBuffer: 16 * 1024 * 1024 });
    const files = stdout
      .split('\n')
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, ''));
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/agegender.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'dist/web/agegender.js',
      'dist/web/index.d.ts',
      'dist/web/tfjs-backend-wasm-simd.wasm',
      'web/index.html',
      'web/app.js',
      'models/default/model.json',
      'models/default/weights.bin',
      'models/default/preprocess.json',
      'models/default/MODEL_CARD.md',
    ]) {
      assert.ok(files.includes(f), `${f} is not in the tarball`);
    }
    const unwanted = files.filter(
      (f) => /^(test|bench|src|scripts|var|runs|tmp|data)\//.test(f) || f.endsWith('.map'),
    );
    assert.deepEqual(unwanted, [], 'tests, benches, sources, data or source maps in the tarball');
  });

  test('npx agegender predict, then a Node script with loadPredictor: the same faces', async (t) => {
    if (skipIfNotInstalled(t)) return;
    const cli = await run('npx', ['--no-install', 'agegender', 'predict', photo(), '--json'], {
      cwd: project,
    });
    const cliFaces = cli.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as JsonFace & { face: number });
    assert.equal(cliFaces.length, 2, cli.stdout);
    for (const f of cliFaces) assert.match(f.label, LABEL);

    const script = path.join(project, 'predict.mjs');
    await fs.writeFile(script, LIBRARY_SMOKE);
    for (const node of await nodeBinaries()) {
      const version = (await run(node, ['--version'])).stdout.trim();
      // The CLI itself on this Node: the same face lines as npx gave.
      const bin = path.join(project, 'node_modules', 'agegender', 'bin', 'agegender.js');
      const cliHere = await run(node, [bin, 'predict', photo(), '--json'], { cwd: project });
      assert.equal(cliHere.stdout, cli.stdout, `${version}: agegender predict`);
      const { stdout } = await run(node, [script, photo()], { cwd: project });
      const out = JSON.parse(stdout) as LibrarySmoke;
      console.log(
        `node ${version}: ${out.faces.map((f) => `${f.label} (box ${Object.values(f.box).join(',')})`).join(', ')}`,
      );
      assert.equal(out.faces.length, 2, version);
      out.faces.forEach((f, i) => {
        const c = cliFaces[i]!;
        assert.deepEqual(
          { box: f.box, age: f.age, pMale: f.pMale, label: f.label },
          { box: c.box, age: c.age, pMale: c.pMale, label: c.label },
          version,
        );
      });
      // The same photo as a Buffer and as a tfjs tensor of its pixels: the same faces.
      assert.deepEqual(out.fromBuffer, out.faces, `${version}: Buffer`);
      assert.deepEqual(
        out.fromTensor.map((f) => f.label),
        out.faces.map((f) => f.label),
        `${version}: tensor`,
      );
      assert.deepEqual(out.aborted, ['AbortError', true], `${version}: an aborted signal`);
      // A second predictor asking for another engine is refused; the first keeps its engine and answers.
      assert.deepEqual(out.second, ['EngineInUseError', true, true], `${version}: a second backend`);
      assert.deepEqual(out.bad, [
        true,
        'input 1: not a readable image: Input buffer contains unsupported image format',
      ]);
      assert.equal(out.opt[0], true);
      assert.match(out.opt[1], /^loadPredictor: unknown option "minscore"/);
    }
  });

  test('a strict TypeScript project (skipLibCheck off) compiles against the main entry, loading no tfjs types', async (t) => {
    if (skipIfNotInstalled(t)) return;
    const strict = path.join(project, 'strict');
    await fs.mkdir(strict, { recursive: true });
    await fs.writeFile(
      path.join(strict, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          lib: ['ES2022', 'ESNext.Disposable'],
          types: ['node'],
          typeRoots: [path.join(repoRoot, 'node_modules', '@types')],
        },
        include: ['use.ts'],
      }),
    );
    await fs.writeFile(
      path.join(strict, 'use.ts'),
      [
        "import { loadPredictor, EngineInUseError, type Face, type ImageTensor } from 'agegender';",
        "import { readFile } from 'node:fs/promises';",
        '',
        'await using predictor = await loadPredictor({ signal: AbortSignal.timeout(60_000) });',
        "const fromPath: Face[] = await predictor.predict('photo.png', { crop: true });",
        "const fromBuffer: Face[] = await predictor.predict(await readFile('photo.png'));",
        'declare const tensor: ImageTensor;',
        'const fromTensor: Face[] = await predictor.predict(tensor);',
        'const refused: boolean = new EngineInUseError("x") instanceof Error;',
        'console.log(fromPath[0]?.label, fromBuffer.length, fromTensor.length, refused);',
        'export {};',
      ].join('\n'),
    );
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    let listed: string;
    try {
      listed = (await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--listFiles'], { cwd: strict }))
        .stdout;
    } catch (err) {
      assert.fail(`tsc failed:\n${(err as { stdout?: string }).stdout}`);
    }
    const tfjs = listed.split('\n').filter((f) => f.includes('@tensorflow'));
    assert.deepEqual(tfjs, [], "the main entry's declarations load tfjs types");
  });

  test('tsc type-checks a file that uses the API (and rejects a wrong option)', async (t) => {
    if (skipIfNotInstalled(t)) return;
    await fs.writeFile(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          lib: ['ES2022', 'DOM'],
          types: [],
        },
        include: ['use.ts'],
      }),
    );
    await fs.writeFile(
      path.join(project, 'use.ts'),
      [
        "import { loadPredictor, type Face } from 'agegender';",
        "import { train, type ProgressEvent } from 'agegender/train';",
        "import { loadPredictor as loadInBrowser, type WebPredictor } from 'agegender/web';",
        '',
        "const predictor = await loadPredictor({ detector: 'tiny', minScore: 0.5 });",
        "const faces: Face[] = await predictor.predict('photo.png', { detect: true });",
        "const gender: 'M' | 'F' | undefined = faces[0]?.gender;",
        'const box: number = faces[0]?.box.w ?? 0;',
        '// @ts-expect-error: not an option of loadPredictor',
        'await loadPredictor({ minscore: 0.5 });',
        '// @ts-expect-error: gender is M or F, never a number',
        'const wrong: number = faces[0]!.gender;',
        'const onProgress = (p: ProgressEvent) => console.log(p.done, p.total, p.etaSeconds);',
        "void train({ modelDir: 'runs/a', epochs: 1, progress: onProgress });",
        "const web: WebPredictor = await loadInBrowser({ modelUrl: '/model/', backend: ['wasm', 'cpu'] });",
        'const img = new Image();',
        'const inPage: Face[] = await web.predict(img);',
        'console.log(gender, box, wrong, inPage.length);',
        'export {};',
      ].join('\n'),
    );
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project });
    } catch (err) {
      assert.fail(`tsc failed:\n${(err as { stdout?: string }).stdout}`);
    }
  });

  test(
    'a plain HTML page loads the web entry in Chromium and answers as Node does',
    { skip: chromiumSkip },
    async (t) => {
      if (skipIfNotInstalled(t)) return;
      await fs.writeFile(
        path.join(project, 'index.html'),
        `<!doctype html><html><body><img id="photo" src="photo.png">
<script type="module">
  import { loadPredictor } from './node_modules/agegender/dist/web/agegender.js';
  try {
    const predictor = await loadPredictor();
    const faces = await predictor.predict(document.getElementById('photo'));
    window.result = { backend: predictor.backend, faces };
  } catch (err) {
    window.result = { error: String(err && err.message || err) };
  }
</script></body></html>`,
      );
      const server = await serveStatic(project);
      let browser: Browser | undefined;
      try {
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
        browser = await launchChromium();
        const page = await browser.newPage();
        const outside: string[] = [];
        page.on('request', (r) => {
          if (!r.url().startsWith(base) && !/^(data|blob):/.test(r.url())) outside.push(r.url());
        });
        await page.goto(base);
        await page.waitForFunction(() => (window as unknown as { result?: unknown }).result, null, {
          timeout: 180_000,
        });
        const result = (await page.evaluate(() => (window as unknown as { result: unknown }).result)) as {
          backend?: string;
          faces?: JsonFace[];
          error?: string;
        };
        assert.equal(result.error, undefined, result.error);
        assert.deepEqual(outside, [], 'the page fetched something from outside the project');

        const node = await run(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            "import { loadPredictor } from 'agegender'; const p = await loadPredictor(); console.log(JSON.stringify(await p.predict(process.argv[1])));",
            photo(),
          ],
          { cwd: project },
        );
        const nodeFaces = JSON.parse(node.stdout) as JsonFace[];
        const web = result.faces!;
        console.log(
          `browser (${result.backend}): ${web.map((f) => `${f.label} ${f.age} p(male) ${f.pMale}`).join(', ')}; ` +
            `node: ${nodeFaces.map((f) => `${f.label} ${f.age} p(male) ${f.pMale}`).join(', ')}`,
        );
        assert.equal(web.length, nodeFaces.length);
        web.forEach((w, i) => {
          const n = nodeFaces[i]!;
          assert.match(w.label, LABEL);
          assert.equal(w.gender, n.gender);
          assert.ok(Math.abs(w.age - n.age) < 3, `browser age ${w.age} vs node ${n.age}`);
          assert.ok(Math.abs(w.pMale - n.pMale) < 0.1, `browser p(male) ${w.pMale} vs node ${n.pMale}`);
          for (const k of ['x', 'y', 'w', 'h'] as const) {
            assert.ok(
              Math.abs(w.box[k] - n.box[k]) <= 3,
              `box ${k}: browser ${w.box[k]} vs node ${n.box[k]}`,
            );
          }
        });
      } finally {
        await closeChromium(browser);
        await new Promise((r) => server.close(r));
      }
    },
  );
});

/** What LIBRARY_SMOKE prints. */
interface LibrarySmoke {
  faces: JsonFace[];
  fromBuffer: JsonFace[];
  fromTensor: JsonFace[];
  aborted: [string, boolean];
  second: [string, boolean, boolean];
  bad: [boolean, string];
  opt: [boolean, string];
}

/**
 * An application's script against the installed package: one photo from a path, a Buffer and a tfjs tensor;
 * a prediction stopped by an aborted signal; a second predictor asking for another engine; bad input.
 */
const LIBRARY_SMOKE = [
  "import { readFile } from 'node:fs/promises';",
  "import * as tf from '@tensorflow/tfjs';",
  "import sharp from 'sharp';",
  "import { loadPredictor, InvalidImageError, InvalidOptionError } from 'agegender';",
  'const file = process.argv[2];',
  'const predictor = await loadPredictor();',
  'const engine = predictor.engine;',
  'const faces = await predictor.predict(file);',
  'const fromBuffer = await predictor.predict(await readFile(file));',
  'const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });',
  "const tensor = tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32');",
  'const fromTensor = await predictor.predict(tensor);',
  'tensor.dispose();',
  'const stop = new AbortController(); stop.abort();',
  'const aborted = await predictor.predict(file, { signal: stop.signal }).catch((e) => e);',
  "const backend = engine.startsWith('cpu') ? 'wasm' : 'cpu';",
  'const second = await loadPredictor({ backend }).catch((e) => e);',
  'const after = await predictor.predict(file);',
  'const bad = await predictor.predict(new Uint8Array([1, 2, 3])).catch((e) => e);',
  'const opt = await loadPredictor({ minscore: 0.5 }).catch((e) => e);',
  'await predictor.dispose();',
  'console.log(JSON.stringify({ faces, fromBuffer, fromTensor,',
  '  aborted: [aborted.name, aborted instanceof Error],',
  '  second: [second.name, predictor.engine === engine, JSON.stringify(after) === JSON.stringify(faces)],',
  '  bad: [bad instanceof InvalidImageError, bad.message],',
  '  opt: [opt instanceof InvalidOptionError, opt.message] }));',
].join('\n');

/**
 * The Node versions an installed agegender must run on: this process's, and Node 24 from the npm registry's
 * `node` package (cached outside the repo) when this one is not 24 already.
 */
async function nodeBinaries(): Promise<string[]> {
  const out = [process.execPath];
  if (process.versions.node.startsWith('24.')) return out;
  const prefix = path.join(os.homedir(), '.cache', 'agegender-test', 'node24');
  const bin = path.join(prefix, 'node_modules', '.bin', 'node');
  try {
    await fs.access(bin);
  } catch {
    await run('npm', ['install', '--prefix', prefix, '--no-save', '--prefer-offline', 'node@24'], {
      timeout: 300_000,
    });
  }
  return [...out, bin];
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.bin': 'application/octet-stream',
};

/** A static file server over `root` (what any web server would do for the installed project). */
async function serveStatic(root: string): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, url.endsWith('/') ? url + 'index.html' : url);
    if (!file.startsWith(root + path.sep)) return void res.writeHead(403).end();
    try {
      const body = await fs.readFile(file);
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}
