// The peer for bench/predict-vs-faceapi.ts: @vladmandic/face-api's own age/gender pipeline
// (SSD MobileNetV1 detection + ageGenderNet, weights from node_modules/@vladmandic/face-api/model) on
// plain @tensorflow/tfjs + the wasm backend, printing one line per face like `agegender predict`.
//   node bench/predict-faceapi-peer.mjs photo.jpg [more.jpg ...]
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');
const sharp = require('sharp');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

wasm.setWasmPaths(
  path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/',
);
await tf.setBackend('wasm');
await tf.ready();
const modelDir = path.dirname(
  require.resolve('@vladmandic/face-api/model/ssd_mobilenetv1_model-weights_manifest.json'),
);
await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
await faceapi.nets.ageGenderNet.loadFromDisk(modelDir);
const options = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.4 });
for (const file of process.argv.slice(2)) {
  const { data, info } = await sharp(file).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const input = tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32');
  const faces = await faceapi.detectAllFaces(input, options).withAgeAndGender();
  input.dispose();
  faces.forEach((f, i) => {
    const b = f.detection.box;
    const g = f.gender === 'male' ? 'M' : 'F';
    console.log(
      `${file}  face ${i + 1}  ${g}/${Math.round(f.age)}  (box ${[b.x, b.y, b.width, b.height].map(Math.round).join(',')})`,
    );
  });
  if (faces.length === 0) console.log(`${file}  no face found`);
}
