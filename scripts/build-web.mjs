// Builds the browser entry (src/web/index.ts) into dist/web/: one ES module, agegender.js, with tfjs,
// its wasm backend and face-api's detector inside, plus the wasm binaries beside it (the module finds
// them relative to its own URL), so a page needs no CDN. Run by `npm run build`; tests call build().
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_OUT_DIR = path.join(root, 'dist', 'web');
const WASM_FILES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
];

export async function build() {
  await mkdir(WEB_OUT_DIR, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [path.join(root, 'src', 'web', 'index.ts')],
    outfile: path.join(WEB_OUT_DIR, 'agegender.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'eof',
    logLevel: 'warning',
    metafile: true,
  });
  const require = createRequire(import.meta.url);
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  for (const f of WASM_FILES) await copyFile(path.join(wasmDir, f), path.join(WEB_OUT_DIR, f));
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const t0 = Date.now();
  const { metafile } = await build();
  const bytes = Object.values(metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  console.log(`dist/web/agegender.js: ${(bytes / 1e6).toFixed(2)} MB in ${Date.now() - t0} ms`);
}
