/**
 * Which face detector should predict use? Recall, false detections and speed of the detectors shipped in
 * @vladmandic/face-api, on composite group photos (UTKFace crops pasted at known places, sizes 64-232 px,
 * on 960x640 noisy / plain backgrounds), in one run. A face counts as found when the detector's box,
 * mapped through that detector's own calibrated crop rule, overlaps the pasted crop with IoU >= 0.5.
 *
 *   npx tsx bench/predict-detectors.ts [--photos 12] [--calib 100]
 */
import { decodeRgb } from '../src/data/image.js';
import { calibrateFaceCrop } from '../src/infer/calibrate.js';
import { loadDetector, type DetectOptions, type DetectorName } from '../src/infer/detector.js';
import { cropRegion, iou } from '../src/infer/crop-rule.js';
import { ensureBackend } from '../src/infer/tf-backend.js';
import { utkfaceDir } from '../test/helpers/fixtures.js';
import { makeGroupPhotos } from '../test/helpers/predict-photos.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const nPhotos = arg('--photos', 12);
const nCalib = arg('--calib', 100);

await ensureBackend('wasm');
const photos = await makeGroupPhotos(nPhotos);
const images = await Promise.all(photos.map((p) => decodeRgb(p.jpeg)));
const totalFaces = photos.reduce((n, p) => n + p.faces.length, 0);

const configs: { det: DetectorName; opts: DetectOptions; label: string }[] = [
  { det: 'ssd-mobilenetv1', opts: { minScore: 0.5 }, label: 'ssd-mobilenetv1 min 0.5' },
  { det: 'ssd-mobilenetv1', opts: { minScore: 0.3 }, label: 'ssd-mobilenetv1 min 0.3' },
  { det: 'tiny-face-detector', opts: { minScore: 0.5, inputSize: 416 }, label: 'tiny 416 min 0.5' },
  { det: 'tiny-face-detector', opts: { minScore: 0.4, inputSize: 512 }, label: 'tiny 512 min 0.4' },
  { det: 'tiny-face-detector', opts: { minScore: 0.4, inputSize: 608 }, label: 'tiny 608 min 0.4' },
];
console.log(`${nPhotos} photos, ${totalFaces} faces; calibration on ${nCalib} UTKFace crops per detector`);
for (const c of configs) {
  const detector = await loadDetector(c.det);
  const cal = await calibrateFaceCrop(detector, { imgDir: utkfaceDir, count: nCalib, detectOptions: c.opts });
  await detector.detect(images[0]!, c.opts); // warm-up (kernel compile, weight upload)
  let found = 0;
  let falsePos = 0;
  let iouSum = 0;
  const bySize = new Map<number, [number, number]>();
  const t0 = performance.now();
  for (const [i, photo] of photos.entries()) {
    const dets = await detector.detect(images[i]!, c.opts);
    const regions = dets.map((d) => cropRegion(d.box, cal.rule));
    const used = new Set<number>();
    for (const face of photo.faces) {
      const j = regions.findIndex((r, k) => !used.has(k) && iou(r, face.region) >= 0.5);
      if (j >= 0) iouSum += iou(regions[j]!, face.region);
      const s = bySize.get(face.region.w) ?? [0, 0];
      s[1]++;
      if (j >= 0) {
        used.add(j);
        found++;
        s[0]++;
      }
      bySize.set(face.region.w, s);
    }
    falsePos += regions.length - used.size;
  }
  const ms = (performance.now() - t0) / photos.length;
  const missed = [...bySize.entries()]
    .filter(([, [f, t]]) => f < t)
    .sort((a, b) => a[0] - b[0])
    .map(([s, [f, t]]) => `${s}px ${f}/${t}`)
    .join(', ');
  const r = cal.rule;
  console.log(
    `${c.label.padEnd(24)} recall ${found}/${totalFaces} (${((100 * found) / totalFaces).toFixed(0)}%)  ` +
      `false ${falsePos}  mean IoU ${(iouSum / found).toFixed(3)}  ${ms.toFixed(0)} ms/photo  | calib scale ${r.scale} dx ${r.dx} dy ${r.dy} ` +
      `(${r.samples}/${r.tried} crops)${missed ? `  | missed at: ${missed}` : ''}`,
  );
}
