import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { listAaf } from '../src/data/datasets/aaf.js';
import {
  clusterHashes,
  hashDistance,
  imageHash,
  resolveDuplicates,
  type ImageHash,
} from '../src/data/duplicates.js';
import { readLabelsCsv } from '../src/data/labels-csv.js';
import { runCli as cli } from './helpers/spawn-cli.js';
import { clusterAllPairs, syntheticHashes } from './helpers/duplicates-reference.js';
import { pickUtkface, sharedDir, tempDir, utkfaceDir } from './helpers/fixtures.js';

const aafFaces = path.join(sharedDir, 'data', 'aaf', 'faces');
const aafNames = readdirSync(aafFaces).sort();

/**
 * An AAF-like folder: 24 real photos spread over the ids (both genders), linked; a re-encoded, brightened
 * copy of one photo under another name with another age (a conflicting duplicate, as the real set has);
 * a consistent copy of another; a malformed name; and train/val lists with one gender that contradicts
 * the id range.
 */
async function makeAaf(dir: string) {
  const faces = path.join(dir, 'faces');
  await fs.mkdir(faces, { recursive: true });
  const picked = Array.from({ length: 24 }, (_, i) => aafNames[Math.floor((i * aafNames.length) / 24)]!);
  for (const n of picked) await fs.symlink(path.join(aafFaces, n), path.join(faces, n));
  const [a, b] = [picked[3]!, picked[20]!];
  // Same photo, 9 years apart in the labels: which one is right cannot be told, so both must go.
  const conflictName = `${a.slice(0, 5).replace(/^\d/, '9')}A${String((Number(a.slice(6, 8)) + 9) % 100).padStart(2, '0')}.jpg`;
  await sharp(path.join(aafFaces, a))
    .modulate({ brightness: 1.08 })
    .jpeg({ quality: 70 })
    .toFile(path.join(faces, conflictName));
  // Same photo and same labels: kept, both on one side of the split.
  const twinName = `${b.slice(0, 4)}9${b.slice(5)}`;
  await sharp(path.join(aafFaces, b)).jpeg({ quality: 60 }).toFile(path.join(faces, twinName));
  await fs.writeFile(path.join(faces, 'notes.jpg'), 'x');
  const gender = (n: string) => (Number(n.slice(0, 5)) >= 7381 ? 1 : 0);
  const lines = picked.map((n) => `${n} ${gender(n)}`);
  lines[0] = `${picked[0]} ${1 - gender(picked[0]!)}`; // contradicts the id range
  await fs.writeFile(path.join(dir, 'train.txt'), lines.slice(0, 12).join('\n') + '\n');
  await fs.writeFile(path.join(dir, 'val.txt'), lines.slice(12).join('\n') + '\n');
  return { picked, conflict: [a, conflictName], twins: [b, twinName] };
}

describe('duplicates', () => {
  it('the index finds exactly the all-pairs clusters: synthetic near-copies at several distances', () => {
    const hashes: (Int32Array | null)[] = syntheticHashes(3000, 30, 7);
    hashes[5] = null; // unreadable images stay alone
    for (const d of [0, 3, 10, 22, 30, 70]) {
      const index = clusterHashes(hashes, d);
      assert.deepEqual(index, clusterAllPairs(hashes, d), `max distance ${d}`);
      if (d === 22) assert.ok(new Set(index).size < 2600, 'the data has clusters to find');
    }
  });

  it('the index finds exactly the all-pairs clusters on 2,000 UTKFace and 1,000 AAF crops', async () => {
    const files = [
      ...pickUtkface(2000).map((s) => path.join(utkfaceDir, s.file)),
      ...aafNames
        .filter((_, i) => i % 13 === 0)
        .slice(0, 1000)
        .map((n) => path.join(aafFaces, n)),
    ];
    const hashes: ImageHash[] = [];
    for (let i = 0; i < files.length; i += 16)
      hashes.push(...(await Promise.all(files.slice(i, i + 16).map((f) => imageHash(f)))));
    for (const d of [8, 22, 28]) {
      const index = clusterHashes(hashes, d);
      assert.deepEqual(index, clusterAllPairs(hashes, d), `max distance ${d}`);
      if (d === 22) assert.ok(new Set(index).size < files.length, 'real copies are found');
    }
  });

  it('a re-encoded, re-toned copy hashes close; a different face does not', async () => {
    const [x, y] = pickUtkface(2, 100);
    const original = await fs.readFile(path.join(utkfaceDir, x!.file));
    const copy = await sharp(original)
      .modulate({ brightness: 1.1, saturation: 0.9 })
      .resize(160)
      .jpeg({ quality: 55 })
      .toBuffer();
    const [h0, h1, h2] = await Promise.all([
      imageHash(original),
      imageHash(copy),
      imageHash(path.join(utkfaceDir, y!.file)),
    ]);
    assert.ok(hashDistance(h0, h1) <= 10, `copy distance ${hashDistance(h0, h1)}`);
    assert.ok(hashDistance(h0, h2) > 40, `other face distance ${hashDistance(h0, h2)}`);
    const clusters = clusterHashes([h0, h2, h1, null], 22);
    assert.deepEqual([...clusters], [0, 1, 0, 3]);
  });

  it('drops clusters whose labels disagree and groups consistent copies', () => {
    const h = (v: number) => Int32Array.from({ length: 8 }, (_, k) => (k === 0 ? v : 0));
    const rows = [
      { filename: 'a', age: 30, gender: 1 as const },
      { filename: 'a-copy', age: 31, gender: 1 as const }, // within the 2-year tolerance
      { filename: 'b', age: 20, gender: 0 as const },
      { filename: 'b-copy', age: 20, gender: 1 as const }, // gender conflict
      { filename: 'c', age: 50, gender: 0 as const },
    ];
    const hashes = [h(0b1), h(0b11), h(0xff00), h(0xff01), h(0x7fff0000)];
    const report = resolveDuplicates(rows, hashes, (r) => r.filename, { maxDistance: 1, ageTolerance: 2 });
    assert.deepEqual(
      report.kept.map((k) => [k.row.filename, k.group]),
      [
        ['a', 'a'],
        ['a-copy', 'a'],
        ['c', 'c'],
      ],
    );
    assert.deepEqual(report.counts, {
      clusters: 2,
      duplicateImages: 4,
      conflictingClusters: 1,
      droppedConflicting: 2,
    });
  });
});

describe('preprocess aaf', () => {
  it('lists names, genders and conflicts', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const made = await makeAaf(dir);
      const listing = await listAaf(dir);
      assert.equal(listing.counts.read, 27);
      assert.equal(listing.counts.malformed, 1);
      assert.equal(listing.counts.genderConflict, 1);
      assert.equal(listing.counts.unlisted, 2); // the two copies are in no list
      const s = listing.samples.find((x) => x.name === made.picked[5])!;
      assert.equal(s.age, Number(made.picked[5]!.slice(6, 8)));
      assert.equal(s.gender, s.id >= 7381 ? 1 : 0);
    } finally {
      await cleanup();
    }
  });

  it('frames faces with the detector median, drops conflicting copies, keeps twins on one side', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const made = await makeAaf(dir);
      const out = path.join(dir, 'out');
      const r = await cli([
        'preprocess',
        'aaf',
        '--photo-dir',
        dir,
        '--output-dir',
        out,
        '--img-size',
        '48',
        '--framing',
        'median',
        '--framing-sample',
        '4',
        '--split-ratio',
        '0.5,0.5',
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout);
      assert.equal(summary.counts.genderConflict, 1);
      assert.equal(summary.counts.droppedConflictingDuplicates, 2);
      assert.match(summary.input.framing, /^median of \d: ssd-mobilenetv1/);
      assert.equal(summary.duplicates.conflictingClusters, 1);
      const train = (await readLabelsCsv(path.join(out, 'train.csv'))).map((x) => x.filename);
      const val = (await readLabelsCsv(path.join(out, 'val.csv'))).map((x) => x.filename);
      for (const n of made.conflict) assert.ok(!train.includes(n) && !val.includes(n), `${n} dropped`);
      const side = (n: string) => (train.includes(n) ? 'train' : val.includes(n) ? 'val' : 'none');
      assert.notEqual(side(made.twins[0]!), 'none');
      assert.equal(side(made.twins[0]!), side(made.twins[1]!));
      const meta = await sharp(path.join(out, 'crop', train[0]!)).metadata();
      assert.equal(meta.width, 48);
      // The framed crop is tighter than the head-and-shoulders photo: a face fills it.
      assert.equal(train.length + val.length, 27 - 1 - 1 - 2);
    } finally {
      await cleanup();
    }
  });

  it('frames each photo with the detector by default, as predict frames the face it finds', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await makeAaf(dir);
      const out = path.join(dir, 'out');
      const args = ['preprocess', 'aaf', '--photo-dir', dir, '--output-dir', out, '--img-size', '48'];
      const r = await cli([...args, '--split-ratio', '0.5,0.5', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout);
      assert.match(summary.input.framing, /^ssd-mobilenetv1 scale [\d.]+ dx [-\d.]+ dy [-\d.]+$/);
      assert.equal(summary.counts.framingSamples, undefined);
      // 26 well-named photos (notes.jpg is not one), one whose gender contradicts its list: each of the
      // other 25 gets its own face box, or is counted as faceless.
      assert.equal(summary.counts.labelled + summary.counts.noFace, 25);
    } finally {
      await cleanup();
    }
  });
});
