import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { Predictor, defaultModelDir } from '../src/infer/predictor.js';
import type { FaceResult } from '../src/infer/types.js';
import { chromiumSkip, closeChromium, launchChromium } from './helpers/chromium.js';
import { pickUtkface, repoRoot, utkfaceDir } from './helpers/fixtures.js';
import { makeGroupPhoto } from './helpers/predict-photos.js';
import { startStaticServer, type StaticServer } from './helpers/static-server.js';
import { ensureWebBuild } from './helpers/web-build.js';

// One face pipeline (src/infer/face-pipeline.ts) in two builds: the same PNG through the Node predictor
// (sharp) and through the browser build in headless Chromium (canvas decode, the Lanczos port) must give
// the same faces: boxes within 2 px, ages within 0.1 year. The browser build is served by a plain static
// server, as a user's own site would serve it.

const modelUrl = '/models/default/';
const detectorUrl = '/node_modules/@vladmandic/face-api/model/';
type Case = { name: string; png: Buffer; detect: boolean };

describe('Node and the browser build give the same faces', { skip: chromiumSkip, timeout: 300_000 }, () => {
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  let node: Predictor;
  const cases: Case[] = [];

  before(async () => {
    await ensureWebBuild({ fresh: true });
    const group = await makeGroupPhoto({
      sizes: [200, 150, 120],
      samples: pickUtkface(3, 11),
      background: 'noise',
    });
    cases.push({ name: 'group.png', png: await sharp(group.jpeg).png().toBuffer(), detect: true });
    const crop = path.join(utkfaceDir, pickUtkface(1, 3)[0]!.file);
    const cropPng = await sharp(crop).png().toBuffer();
    cases.push({ name: 'crop.png', png: cropPng, detect: false });
    cases.push({ name: 'crop-detected.png', png: cropPng, detect: true });
    const extra: Record<string, Buffer | string> = { '/index.html': '<!doctype html><title>parity</title>' };
    for (const c of cases) extra[`/photos/${c.name}`] = c.png;
    server = await startStaticServer(repoRoot, extra);
    browser = await launchChromium();
    const context = await browser.newContext();
    // tsx names functions (keepNames) through a helper that pages lack; functions passed to evaluate use it.
    await context.addInitScript('window.__name = (f) => f');
    page = await context.newPage();
    await page.goto(server.base + '/index.html');
    node = await Predictor.load({ modelDir: defaultModelDir(), threads: 1 });
  });

  after(async () => {
    await node?.dispose();
    await closeChromium(browser);
    await server?.close();
  });

  async function inBrowser(c: Case): Promise<FaceResult[]> {
    return page.evaluate(
      async ({ c, modelUrl, detectorUrl }) => {
        const w = window as unknown as { lib?: Promise<{ loadPredictor: (o: object) => Promise<unknown> }> };
        w.lib ??= import('/dist/web/agegender.js' as string);
        const { loadPredictor } = await w.lib;
        const g = window as unknown as { predictor?: Promise<{ predict: Function }> };
        g.predictor ??= loadPredictor({ modelUrl, detectorUrl, backend: 'wasm' }) as never;
        const p = await g.predictor;
        const blob = await (await fetch(`/photos/${c.name}`)).blob();
        return p.predict(blob, { detect: c.detect });
      },
      { c: { name: c.name, detect: c.detect }, modelUrl, detectorUrl },
    ) as Promise<FaceResult[]>;
  }

  test('a group photo, a face crop, and the crop found by the margin pass', async () => {
    for (const c of cases) {
      const want = await node.predict(c.png, { detect: c.detect });
      const got = await inBrowser(c);
      const line = (f: FaceResult[]) =>
        f.map((x) => `${x.label} age ${x.age} box ${x.box.x},${x.box.y},${x.box.w},${x.box.h}`).join('; ');
      console.log(`${c.name} (detect ${c.detect}): node ${line(want)} | browser ${line(got)}`);
      assert.ok(want.length >= 1, `${c.name}: no face in Node`);
      assert.equal(got.length, want.length, `${c.name}: faces found`);
      want.forEach((w, i) => {
        const g = got[i]!;
        for (const k of ['x', 'y', 'w', 'h'] as const)
          assert.ok(
            Math.abs(g.box[k] - w.box[k]) <= 2,
            `${c.name} face ${i + 1} box.${k}: ${g.box[k]} vs ${w.box[k]}`,
          );
        assert.ok(Math.abs(g.age - w.age) <= 0.1, `${c.name} face ${i + 1}: age ${g.age} vs ${w.age}`);
        assert.equal(g.gender, w.gender);
        assert.ok(
          Math.abs(g.pMale - w.pMale) <= 0.01,
          `${c.name} face ${i + 1}: pMale ${g.pMale} vs ${w.pMale}`,
        );
      });
    }
  });

  test('the browser build: predictEach, a tensor, an aborted signal, and the model cached between visits', async () => {
    const c = cases.find((x) => x.name === 'crop.png')!;
    const [want] = await node.predict(c.png, { detect: false });
    const r = await page.evaluate(async () => {
      const g = window as unknown as { predictor: Promise<Record<string, Function>> };
      const p = await g.predictor;
      const blob = await (await fetch('/photos/crop.png')).blob();
      const bitmap = await createImageBitmap(blob);
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(bitmap, 0, 0);
      const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
      // Any tfjs tensor: read through shape, dtype and data() only.
      const tensor = {
        shape: [bitmap.height, bitmap.width, 4],
        dtype: 'int32',
        data: async () => Int32Array.from(rgba),
      };
      const each = await p.predictEach!([blob, new Blob(['not an image']), tensor], { detect: false });
      const aborted = await p.predict!(blob, { signal: AbortSignal.abort() }).catch((e: Error) => e.name);
      return {
        each: each.map((o: { ok: boolean; faces?: unknown[]; error?: Error }) =>
          o.ok ? { ok: true, faces: o.faces } : { ok: false, name: o.error!.name, message: o.error!.message },
        ),
        aborted,
      };
    });
    const each = r.each as { ok: boolean; faces?: { age: number }[]; name?: string; message?: string }[];
    assert.equal(each.length, 3);
    assert.ok(each[0]!.ok && Math.abs(each[0]!.faces![0]!.age - want!.age) <= 0.1);
    assert.equal(each[1]!.ok, false);
    assert.equal(each[1]!.name, 'InvalidImageError');
    assert.match(each[1]!.message!, /^input 2: not a readable image/);
    assert.deepEqual(each[2], each[0], 'the tensor of the same pixels');
    assert.equal(r.aborted, 'AbortError');

    // A second visit: the weights come from the Cache API, revalidated (304), not downloaded again.
    const weights = () =>
      server.log.filter((l) => l.path === '/models/default/weights.bin').map((l) => l.status);
    assert.deepEqual(weights(), [200]);
    const again = await page.context().newPage(); // the same profile: a second visit
    try {
      await again.goto(server.base + '/index.html');
      const age = await again.evaluate(
        async ({ modelUrl, detectorUrl }) => {
          const { loadPredictor } = await import('/dist/web/agegender.js' as string);
          const p = await loadPredictor({ modelUrl, detectorUrl, backend: 'wasm' });
          const blob = await (await fetch('/photos/crop.png')).blob();
          return (await p.predict(blob, { detect: false }))[0].age as number;
        },
        { modelUrl, detectorUrl },
      );
      assert.equal(age, each[0]!.faces![0]!.age);
      assert.deepEqual(weights(), [200, 304]);
    } finally {
      await again.close();
    }
  });
});
