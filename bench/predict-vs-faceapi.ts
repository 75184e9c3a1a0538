/**
 * `agegender predict` against @vladmandic/face-api's own age/gender pipeline (SSD MobileNetV1 + its
 * ageGenderNet, same tfjs + wasm engine), on the same composite group photos, in one run:
 *  - cold start: process spawn to the first printed answer, one photo (`node bin/agegender.js predict`
 *    vs `node bench/predict-faceapi-peer.mjs`), median of --runs, alternating the two;
 *  - warm per-face latency in one process: all photo files through Predictor.predictBatch vs each file
 *    decoded (the same decoder, sharp) then faceapi.detectAllFaces(...).withAgeAndGender(), per photo and
 *    per face found: both from the same JPEG files to the answers;
 *  - on the side, age MAE and gender accuracy of both against the pasted faces' UTKFace labels
 *    (meaningful once models/default holds the trained model).
 *
 *   npm run build && npx tsx bench/predict-vs-faceapi.ts [--photos 8] [--runs 3] [--model-dir DIR]
 *     [--backend auto|wasm+dnnl|wasm]
 * On a shared machine wall time mostly measures the wait for a core: CPU time (all threads) is printed
 * beside it, for the cold start from /usr/bin/time when it is there.
 * The backend is ours, cold and warm; face-api's warm pipeline shares our engine in that process (so
 * with wasm+dnnl it gets the oneDNN kernels too), its cold start is always its own plain wasm.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decodeRgb } from '../src/data/image.js';
import { cropRegion, iou } from '../src/infer/crop-rule.js';
import { Predictor, defaultModelDir } from '../src/infer/predictor.js';
import type { Box } from '../src/infer/types.js';
import { repoRoot, tempDir } from '../test/helpers/fixtures.js';
import { writeTestBundle } from '../test/helpers/predict-bundle.js';
import { makeGroupPhotos, type PlacedFace } from '../test/helpers/predict-photos.js';

const { values } = parseArgs({
  options: {
    photos: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    'model-dir': { type: 'string' },
    backend: { type: 'string', default: 'auto' },
  },
});
const nPhotos = Number(values.photos);
const runs = Number(values.runs);
const bin = path.join(repoRoot, 'bin', 'agegender.js');
if (!existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'))) {
  console.error('bench: run `npm run build` first (cold start is measured on bin/agegender.js)');
  process.exit(1);
}

const { dir, cleanup } = await tempDir('agegender-bench-');
let modelDir = values['model-dir'] ?? defaultModelDir();
let trained = true;
if (!existsSync(path.join(modelDir, 'model.json'))) {
  // No default model yet: an untrained bundle of the default input size keeps the timing honest
  // for everything but the network's own size.
  modelDir = await writeTestBundle(path.join(dir, 'bundle'), { imageSize: 64 });
  trained = false;
}
const photos = await makeGroupPhotos(nPhotos);
const files: string[] = [];
for (const [i, p] of photos.entries()) {
  files.push(path.join(dir, `group${i}.jpg`));
  await fs.writeFile(files[i]!, p.jpeg);
}
const totalFaces = photos.reduce((n, p) => n + p.faces.length, 0);

/** Milliseconds from spawn to the first line on stdout, and to exit; CPU time (user + system) if known. */
function timeSpawn(args: string[]): Promise<{ first: number; exit: number; cpu: number; out: string }> {
  const cpuFile = path.join(dir, 'cpu.txt');
  const timed = existsSync('/usr/bin/time');
  const [cmd, argv] = timed
    ? ['/usr/bin/time', ['-f', '%U %S', '-o', cpuFile, process.execPath, ...args]]
    : [process.execPath, args];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = NaN;
    let out = '';
    const child = spawn(cmd, argv, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (d) => {
      if (Number.isNaN(first)) first = performance.now() - t0;
      out += d;
    });
    child.on('error', reject);
    child.on('close', async (code) => {
      if (code !== 0) return reject(new Error(`${args[0]} exit ${code}`));
      const exit = performance.now() - t0;
      let cpu = NaN;
      if (timed) {
        const [user, system] = (await fs.readFile(cpuFile, 'utf8')).trim().split(/\s+/).map(Number);
        cpu = (user! + system!) * 1000;
      }
      resolve({ first, exit, cpu, out });
    });
  });
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;

const ours = { first: [] as number[], exit: [] as number[], cpu: [] as number[] };
const peer = { first: [] as number[], exit: [] as number[], cpu: [] as number[] };
for (let r = 0; r < runs; r++) {
  const a = await timeSpawn([
    bin,
    'predict',
    files[0]!,
    '--model-dir',
    modelDir,
    '--backend',
    values.backend,
  ]);
  ours.first.push(a.first);
  ours.exit.push(a.exit);
  ours.cpu.push(a.cpu);
  const b = await timeSpawn([path.join(repoRoot, 'bench', 'predict-faceapi-peer.mjs'), files[0]!]);
  peer.first.push(b.first);
  peer.exit.push(b.exit);
  peer.cpu.push(b.cpu);
}

// Warm, in one process: both pipelines on the same engine and backend.
const predictor = await Predictor.load({ modelDir, backend: values.backend });
const require = createRequire(import.meta.url);
const faceapi =
  require('@vladmandic/face-api/dist/face-api.node-wasm.js') as typeof import('@vladmandic/face-api');
const tf = faceapi.tf as unknown as typeof import('@tensorflow/tfjs');
const faceapiModels = path.dirname(
  require.resolve('@vladmandic/face-api/model/ssd_mobilenetv1_model-weights_manifest.json'),
);
await faceapi.nets.ssdMobilenetv1.loadFromDisk(faceapiModels);
await faceapi.nets.ageGenderNet.loadFromDisk(faceapiModels);

interface Answer {
  box: Box;
  age: number;
  male: boolean;
}
async function runOurs(): Promise<Answer[][]> {
  return (await predictor.predictBatch(files)).map((faces) =>
    faces.map((f) => ({ box: cropRegion(f.box, predictor.faceCrop), age: f.age, male: f.gender === 'M' })),
  );
}
async function runPeer(): Promise<Answer[][]> {
  const out: Answer[][] = [];
  for (const file of files) {
    const img = await decodeRgb(file);
    const t = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
    const faces = await faceapi
      .detectAllFaces(t as never, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.4 }))
      .withAgeAndGender();
    t.dispose();
    out.push(
      faces.map((f) => {
        const b = f.detection.box;
        // face-api's boxes are the same SSD boxes: frame them with our rule to match the pasted crops.
        const box = cropRegion({ x: b.x, y: b.y, w: b.width, h: b.height }, predictor.faceCrop);
        return { box, age: f.age, male: f.gender === 'male' };
      }),
    );
  }
  return out;
}
await runOurs(); // warm-up: kernels, weights on the backend
await runPeer();
const warm = { ours: [] as number[], peer: [] as number[] };
const warmCpu = { ours: [] as number[], peer: [] as number[] };
const cpuSince = (c0: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};
let oursAnswers: Answer[][] = [];
let peerAnswers: Answer[][] = [];
for (let r = 0; r < runs; r++) {
  let [t0, c0] = [performance.now(), process.cpuUsage()];
  oursAnswers = await runOurs();
  warm.ours.push(performance.now() - t0);
  warmCpu.ours.push(cpuSince(c0));
  [t0, c0] = [performance.now(), process.cpuUsage()];
  peerAnswers = await runPeer();
  warm.peer.push(performance.now() - t0);
  warmCpu.peer.push(cpuSince(c0));
}

function score(answers: Answer[][]): { found: number; mae: number; genderAcc: number } {
  let found = 0;
  let absErr = 0;
  let right = 0;
  photos.forEach((p, i) => {
    for (const face of p.faces as PlacedFace[]) {
      const a = answers[i]!.find((x) => iou(x.box, face.region) >= 0.5);
      if (!a) continue;
      found++;
      absErr += Math.abs(a.age - face.age);
      if (a.male === (face.gender === 1)) right++;
    }
  });
  return { found, mae: absErr / found, genderAcc: right / found };
}
const so = score(oursAnswers);
const sp = score(peerAnswers);
const facesOurs = oursAnswers.flat().length;
const facesPeer = peerAnswers.flat().length;
const wo = median(warm.ours);
const wp = median(warm.peer);
const f = (v: number) => v.toFixed(0).padStart(6);
console.log(
  `${nPhotos} photos (960x640), ${totalFaces} pasted faces; model ${trained ? modelDir : 'untrained 64px test bundle'}; ` +
    `median of ${runs} runs; engine ${predictor.engine}`,
);
console.log('                                agegender   face-api   ratio (agegender / face-api)');
console.log(
  `cold start, first answer (ms)     ${f(median(ours.first))}     ${f(median(peer.first))}   ${(median(ours.first) / median(peer.first)).toFixed(2)}`,
);
console.log(
  `cold start, process exit (ms)     ${f(median(ours.exit))}     ${f(median(peer.exit))}   ${(median(ours.exit) / median(peer.exit)).toFixed(2)}`,
);
console.log(
  `cold start, CPU to exit (ms)      ${f(median(ours.cpu))}     ${f(median(peer.cpu))}   ${(median(ours.cpu) / median(peer.cpu)).toFixed(2)}`,
);
console.log(
  `warm, per photo (ms)              ${f(wo / nPhotos)}     ${f(wp / nPhotos)}   ${(wo / wp).toFixed(2)}`,
);
console.log(
  `warm, per face found (ms)         ${f(wo / facesOurs)}     ${f(wp / facesPeer)}   ${(wo / facesOurs / (wp / facesPeer)).toFixed(2)}`,
);
const co = median(warmCpu.ours);
const cp = median(warmCpu.peer);
console.log(
  `warm, per photo, CPU (ms)         ${f(co / nPhotos)}     ${f(cp / nPhotos)}   ${(co / cp).toFixed(2)}`,
);
console.log(`faces found / matched            ${facesOurs}/${so.found}      ${facesPeer}/${sp.found}`);
console.log(
  `age MAE (years), gender accuracy  ${so.mae.toFixed(1)}, ${(100 * so.genderAcc).toFixed(0)}%   ` +
    `${sp.mae.toFixed(1)}, ${(100 * sp.genderAcc).toFixed(0)}%` +
    (trained ? '' : '   (agegender untrained here: timing only)'),
);
predictor.dispose();
await cleanup();
