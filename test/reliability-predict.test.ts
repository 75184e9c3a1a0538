import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runPredict } from '../src/cli/predict.js';
import { Predictor } from '../src/infer/predictor.js';
import { loadPredictor } from '../src/api/predict.js';
import { DEFAULT_MAX_PIXELS } from '../src/infer/face-pipeline.js';
import { UserError } from '../src/util/errors.js';
import { pickUtkface, tempDir, utkfaceDir } from './helpers/fixtures.js';
import { flatPng } from './helpers/flat-png.js';
import { writeTestBundle } from './helpers/predict-bundle.js';
import { makeGroupPhotos } from './helpers/predict-photos.js';
import { runCli } from './helpers/spawn-cli.js';

let dir: string;
let bundle: string;
let cleanup: () => Promise<void>;
let photo: string;

before(async () => {
  ({ dir, cleanup } = await tempDir());
  bundle = await writeTestBundle(path.join(dir, 'bundle'));
  photo = path.join(dir, 'photos', 'group.jpg');
  await fs.mkdir(path.dirname(photo));
  await fs.writeFile(photo, (await makeGroupPhotos(1))[0]!.jpeg);
});

after(async () => cleanup?.());

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

test('--annotate onto an input photo (a file, or a folder onto itself) is refused and the photos are kept', async () => {
  const before = await fs.readFile(photo);
  const one = capture();
  assert.equal(await runPredict([photo], { annotate: photo, modelDir: bundle }, one.io), 1);
  assert.match(one.err.join('\n'), /--annotate .*group\.jpg: would overwrite the input photo/);
  const second = path.join(dir, 'photos', 'copy.jpg');
  await fs.copyFile(photo, second);
  const folder = capture();
  const photos = path.join(dir, 'photos');
  assert.equal(await runPredict([photos], { annotate: photos, modelDir: bundle }, folder.io), 1);
  assert.match(folder.err.join('\n'), /would overwrite the input photo/);
  assert.deepEqual(await fs.readFile(photo), before);
  assert.deepEqual(await fs.readFile(second), before);
  await fs.rm(second);
});

test('a 15000 x 15000 PNG is shrunk before the detector; the other photos of the batch are answered', async () => {
  const big = path.join(dir, 'big.png');
  await fs.writeFile(big, flatPng(15000, 15000));
  // Over the decode limit: a one-line error for that file alone.
  const huge = path.join(dir, 'huge.png');
  const side = Math.ceil(Math.sqrt(DEFAULT_MAX_PIXELS)) + 1;
  await fs.writeFile(huge, flatPng(side, side));
  const c = capture();
  const code = await runPredict([big, huge, photo], { modelDir: bundle, json: true }, c.io);
  assert.equal(code, 1, 'huge.png could not be read');
  const lines = c.out.map((l) => JSON.parse(l));
  const byFile = (f: string) => lines.filter((l) => l.file === f);
  assert.ok(byFile(photo).length >= 2, 'the faces of the group photo after them are printed');
  assert.ok(byFile(photo).every((l) => l.type === 'face'));
  assert.deepEqual(byFile(big), [{ type: 'no_face', file: big }]);
  assert.equal(byFile(huge).length, 1);
  assert.equal(byFile(huge)[0].type, 'error');
  assert.match(byFile(huge)[0].error, /huge\.png: image is \d+x\d+ = \d+ pixels, over the limit of \d+/);
  assert.ok(process.memoryUsage().rss < 3e9, `RSS ${process.memoryUsage().rss}`);
  await fs.rm(big);
  await fs.rm(huge);
});

test('boxes of a photo shrunk on decode come back in the original pixels', async () => {
  // The group photo blown up past the decode cap (4096): boxes scale with it although it is shrunk on decode.
  const sharp = (await import('sharp')).default;
  const meta = await sharp(photo).metadata();
  const p = await Predictor.load({ modelDir: bundle });
  try {
    const small = await p.predict(photo);
    const k = 4400 / meta.width!;
    const bigger = await sharp(photo).resize(4400).jpeg().toBuffer();
    const large = await p.predict(bigger);
    assert.equal(large.length, small.length);
    for (const [i, f] of small.entries()) {
      assert.ok(Math.abs(large[i]!.box.x - k * f.box.x) < 0.03 * 4400, `face ${i} x`);
      assert.ok(Math.abs(large[i]!.box.w - k * f.box.w) < 0.03 * 4400, `face ${i} w`);
    }
  } finally {
    p.dispose();
  }
});

test('a model that answers NaN fails with a clear message instead of printing F/NaN', async () => {
  const nan = await writeTestBundle(path.join(dir, 'nan-bundle'));
  const weights = path.join(nan, 'weights.bin');
  const size = (await fs.stat(weights)).size;
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) buf.writeFloatLE(NaN, i);
  await fs.writeFile(weights, buf);
  const crop = path.join(utkfaceDir, pickUtkface(1)[0]!.file);
  await assert.rejects(
    runPredict([crop], { modelDir: nan, detect: false }, capture().io),
    (e: unknown) =>
      e instanceof UserError && /nan-bundle: the model's outputs are not numbers \(NaN\)/.test(e.message),
  );
});

test('a truncated weights.bin and a --model-dir that is a file are one-line errors naming the file', async () => {
  const cut = await writeTestBundle(path.join(dir, 'cut-bundle'));
  const weights = path.join(cut, 'weights.bin');
  await fs.truncate(weights, 1000);
  await assert.rejects(
    Predictor.load({ modelDir: cut }),
    (e: unknown) =>
      e instanceof UserError &&
      /cut-bundle\/weights\.bin: 1000 bytes of weights, .* \(truncated\)/.test(e.message),
  );
  await assert.rejects(
    Predictor.load({ modelDir: weights }),
    (e: unknown) => e instanceof UserError && /weights\.bin: is a file, not a serving bundle/.test(e.message),
  );
});

test('numeric flags are strict: --min-score 2 or "", --batch-size 0, --threads 0 are one-line usage errors (exit 2)', async () => {
  for (const [flag, value, why] of [
    ['--min-score', '2', 'a number in 0..1'],
    ['--min-score', '', 'a number in 0..1'],
    ['--batch-size', '0', 'an integer in 1..1024'],
    ['--threads', '0', 'an integer in 1..64'],
  ] as const) {
    const run = await runCli(['predict', photo, flag, value, '--model-dir', bundle]);
    assert.equal(run.code, 2, `${flag} ${value}: a usage error`);
    assert.equal(run.stderr.trim(), `agegender: ${flag} "${value}": expected ${why}`);
    assert.equal(run.stdout, '');
  }
});

test('--min-score 1 keeps no face instead of failing every photo, 0 keeps every face: CLI and library alike', async () => {
  const strict = await runCli(['predict', photo, '--min-score', '1', '--json', '--model-dir', bundle]);
  assert.equal(strict.code, 0, strict.stderr);
  assert.deepEqual(
    strict.lines.map((l) => JSON.parse(l)),
    [{ type: 'no_face', file: photo }],
  );
  const lax = await runCli(['predict', photo, '--min-score', '0', '--json', '--model-dir', bundle]);
  assert.equal(lax.code, 0, lax.stderr);
  assert.ok(lax.lines.length >= 2 && lax.lines.every((l) => JSON.parse(l).type === 'face'));

  const p = await loadPredictor({ modelDir: bundle, minScore: 1, threads: 1 });
  try {
    assert.deepEqual(await p.predict(photo), []);
    const all = await p.predict(photo, { minScore: 0 });
    assert.equal(all.length, lax.lines.length);
  } finally {
    await p.dispose();
  }
});

/** Fails instead of hanging: what a FIFO read without care does. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms (hung)`)), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test(
  'a model folder is untrusted: weight paths outside it, FIFOs as weights or spec are one-line errors, fast',
  {
    timeout: 60_000,
  },
  async () => {
    const outside = await writeTestBundle(path.join(dir, 'outside-bundle'));
    const modelJson = path.join(outside, 'model.json');
    const model = JSON.parse(await fs.readFile(modelJson, 'utf8'));
    await fs.rename(path.join(outside, 'weights.bin'), path.join(dir, 'elsewhere.bin'));
    model.weightsManifest[0].paths = ['../elsewhere.bin'];
    await fs.writeFile(modelJson, JSON.stringify(model));
    await assert.rejects(
      loadPredictor({ modelDir: outside, threads: 1 }),
      (e: unknown) =>
        e instanceof UserError &&
        /outside-bundle\/model\.json: weight file "\.\.\/elsewhere\.bin" is not a file inside the model folder/.test(
          e.message,
        ),
    );
    model.weightsManifest[0].paths = [path.join(dir, 'elsewhere.bin')];
    await fs.writeFile(modelJson, JSON.stringify(model));
    await assert.rejects(
      loadPredictor({ modelDir: outside, threads: 1 }),
      /is not a file inside the model folder/,
    );

    for (const file of ['weights.bin', 'preprocess.json']) {
      const fifo = await writeTestBundle(path.join(dir, `fifo-${file}`));
      await fs.rm(path.join(fifo, file));
      execFileSync('mkfifo', [path.join(fifo, file)]);
      const err = await within(
        loadPredictor({ modelDir: fifo, threads: 1 }).then(
          () => null,
          (e: unknown) => e,
        ),
        15_000,
        `loadPredictor with ${file} a FIFO`,
      );
      assert.ok(err instanceof UserError, String(err));
      assert.match(err.message, new RegExp(`${file.replace('.', '\\.')}: cannot read .*not a regular file`));
      assert.ok(!err.message.includes('\n'));
    }
  },
);

test(
  'a FIFO named like a photo (given, or in a photo folder) is a one-line error; the other photos are answered',
  {
    timeout: 60_000,
  },
  async () => {
    const folder = path.join(dir, 'with-fifo');
    await fs.mkdir(folder);
    await fs.copyFile(photo, path.join(folder, 'a.jpg'));
    const fifo = path.join(folder, 'b.jpg');
    execFileSync('mkfifo', [fifo]);
    const c = capture();
    const code = await within(
      runPredict([folder, fifo], { modelDir: bundle, json: true }, c.io),
      30_000,
      'predict',
    );
    assert.equal(code, 1);
    const lines = c.out.map((l) => JSON.parse(l));
    assert.ok(lines.some((l) => l.type === 'face' && l.file === path.join(folder, 'a.jpg')));
    const errors = lines.filter((l) => l.type === 'error');
    assert.deepEqual(
      errors.map((l) => l.error),
      [fifo, fifo].map((f) => `${f}: not a readable image: a FIFO (named pipe), not a regular file`),
    );
    // A device is no photo either.
    const dev = await loadPredictor({ modelDir: bundle, threads: 1 });
    try {
      await assert.rejects(
        dev.predict('/dev/zero'),
        /^InvalidImageError: \/dev\/zero: not a readable image: a device, not a regular file/,
      );
    } finally {
      await dev.dispose();
    }
  },
);
