// The agegender page: a photo (file, drop or webcam) goes either to the server's /v1/predict, or through
// the same model and the same preprocessing right here with tfjs, in which case nothing is uploaded.
// Plain ES module, no build step; tfjs and face-api come from this server's /vendor/ routes.

const $ = (sel) => document.querySelector(sel);

const state = {
  /** 'server' | 'browser' */
  mode: 'server',
  /** GET /v1/model: name, detector, preprocess (the bundle's preprocess.json), metrics. */
  info: null,
  /** The current photo: the encoded blob (sent to the server) and its decoded bitmap (drawn, or run here). */
  current: null,
  /** Promise of { tf, faceapi, model, detect } once the in-browser mode was switched on. */
  browser: null,
  /** Ignore answers of a photo that was replaced meanwhile. */
  run: 0,
  /** The tfjs backend of the in-browser mode, once loaded. */
  backend: null,
};

// ---------------------------------------------------------------------------------------------------------
// Mode and status

function banner(mode) {
  if (mode === 'server')
    return 'Server mode: the photo is sent to this server, which runs the model and answers.';
  const engine = state.backend ? `TensorFlow.js, ${state.backend} backend` : 'TensorFlow.js, loading…';
  return `In-browser mode (${engine}): the model runs on this device. No photo leaves your machine.`;
}

function setStatus(text, isError = false) {
  const el = $('#status');
  el.textContent = text;
  el.classList.toggle('error', isError);
}

function setMode(mode) {
  state.mode = mode;
  document.body.dataset.mode = mode;
  $('#mode-banner').textContent = banner(mode);
  if (mode === 'browser') {
    loadBrowserModel().catch((err) => setStatus(`In-browser model failed to load: ${err.message}`, true));
  }
  if (state.current) void predictCurrent();
}

// ---------------------------------------------------------------------------------------------------------
// Inputs: file picker, drag and drop, webcam

async function usePhoto(blob) {
  // imageOrientation 'from-image' applies EXIF rotation, as the server's sharp .rotate() does.
  const bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image' });
  state.current = { blob, bitmap };
  await predictCurrent();
}

function onFile(file) {
  if (!file) return;
  usePhoto(file).catch((err) => setStatus(`Cannot read ${file.name}: ${err.message}`, true));
}

function setupInputs() {
  $('#file').addEventListener('change', (e) => onFile(e.target.files[0]));
  const drop = $('#drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    onFile(e.dataTransfer.files[0]);
  });

  let stream = null;
  const video = $('#video');
  $('#webcam-start').addEventListener('click', async () => {
    if (stream) {
      for (const t of stream.getTracks()) t.stop();
      stream = null;
      video.hidden = true;
      $('#webcam-snap').hidden = true;
      $('#webcam-start').textContent = 'Start webcam';
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: 1280, height: 720 },
        audio: false,
      });
    } catch (err) {
      setStatus(`Webcam unavailable: ${err.message}`, true);
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    $('#webcam-snap').hidden = false;
    $('#webcam-start').textContent = 'Stop webcam';
  });
  $('#webcam-snap').addEventListener('click', async () => {
    const c = document.createElement('canvas');
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    c.getContext('2d').drawImage(video, 0, 0);
    const blob = await new Promise((resolve) => c.toBlob(resolve, 'image/jpeg', 0.92));
    await usePhoto(blob);
  });

  for (const input of document.querySelectorAll('input[name=mode]')) {
    input.addEventListener('change', () => setMode(input.value));
  }
  $('#detect').addEventListener('change', () => state.current && predictCurrent());
}

// ---------------------------------------------------------------------------------------------------------
// Prediction

async function predictCurrent() {
  const { blob, bitmap } = state.current;
  const run = ++state.run;
  const detect = $('#detect').checked;
  const mode = state.mode;
  drawPhoto(bitmap, []);
  $('#faces').replaceChildren();
  setStatus(mode === 'server' ? 'Asking the server…' : 'Running the model in this browser…');
  const t0 = performance.now();
  try {
    const faces =
      mode === 'server' ? await predictOnServer(blob, detect) : await predictInBrowser(bitmap, detect);
    if (run !== state.run) return;
    const ms = Math.round(performance.now() - t0);
    drawPhoto(bitmap, faces);
    listFaces(faces);
    const where = mode === 'server' ? 'server' : 'this browser';
    setStatus(`${faces.length} face${faces.length === 1 ? '' : 's'} in ${ms} ms (${where}).`);
  } catch (err) {
    if (run === state.run) setStatus(err.message, true);
  }
}

async function predictOnServer(blob, detect) {
  const res = await fetch(`/v1/predict?detect=${detect}`, {
    method: 'POST',
    headers: { 'content-type': blob.type || 'application/octet-stream' },
    body: blob,
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`Server said ${res.status}: ${body?.error?.message ?? res.statusText}`);
  return body.faces;
}

/**
 * tfjs backends to try, best first. wasm (SIMD) is fast on any CPU and is the backend the server runs,
 * so both modes compute alike; webgl needs a real GPU to be quick (software WebGL, e.g. a headless
 * browser, is far slower than wasm); cpu is the plain-JS fallback. `?backend=webgl` picks one.
 */
function backendOrder() {
  const wanted = new URLSearchParams(location.search).get('backend');
  const order = ['wasm', 'webgl', 'cpu'];
  return wanted ? [wanted, ...order.filter((b) => b !== wanted)] : order;
}

/** Loads tfjs, face-api's detector and our model (once). Everything comes from this server. */
function loadBrowserModel() {
  state.browser ??= (async () => {
    await infoReady;
    const tf = await import('/vendor/tf.fesm.min.js');
    const wasm = await import('@tensorflow/tfjs-backend-wasm/dist/index.js');
    wasm.setWasmPaths('/vendor/');
    const faceapi = await import('/vendor/face-api.esm-nobundle.js');
    let backend = null;
    for (const name of backendOrder()) {
      try {
        if (await tf.setBackend(name)) {
          await tf.ready();
          backend = name;
          break;
        }
      } catch {
        // Not available in this browser: try the next one.
      }
    }
    if (!backend) throw new Error('no TensorFlow.js backend works in this browser');
    const model = await tf.loadLayersModel('/model/model.json');
    const detectorName = state.info.detector;
    let detect;
    if (detectorName === 'tiny-face-detector') {
      await faceapi.nets.tinyFaceDetector.loadFromUri('/vendor/face-api-model');
      const options = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 });
      detect = (input) => faceapi.detectAllFaces(input, options);
    } else {
      await faceapi.nets.ssdMobilenetv1.loadFromUri('/vendor/face-api-model');
      const options = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
      detect = (input) => faceapi.detectAllFaces(input, options);
    }
    state.backend = backend;
    if (state.mode === 'browser') $('#mode-banner').textContent = banner('browser');
    return { tf, faceapi, model, detect };
  })();
  state.browser.catch(() => (state.browser = null));
  return state.browser;
}

/**
 * The detector box -> training-crop rule of preprocess.json (src/infer/face-crop.ts cropRegion): a square
 * of side scale * max(w, h) centred at the box centre moved by (dx * w, dy * h).
 */
function cropRegion(box, rule) {
  const side = rule.scale * Math.max(box.w, box.h);
  const cx = box.x + box.w / 2 + rule.dx * box.w;
  const cy = box.y + box.h / 2 + rule.dy * box.h;
  return { x: cx - side / 2, y: cy - side / 2, w: side, h: side };
}

/** Only if the server names no rule: the detector box itself, squared. */
const IDENTITY_RULE = { scale: 1, dx: 0, dy: 0 };

/** The detector box as the server reports it: rounded and clipped to the photo. */
function clipBox(b, width, height) {
  const x0 = Math.max(0, Math.round(b.x));
  const y0 = Math.max(0, Math.round(b.y));
  const x1 = Math.min(width, Math.round(b.x + b.w));
  const y1 = Math.min(height, Math.round(b.y + b.h));
  return { x: x0, y: y0, w: Math.max(0, x1 - x0), h: Math.max(0, y1 - y0) };
}

/** Lanczos-3 kernel. */
function lanczos3(x) {
  if (x === 0) return 1;
  if (x <= -3 || x >= 3) return 0;
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

/** For each output index: the first input index and the normalised Lanczos-3 weights (widened when shrinking). */
function lanczosTaps(inSize, outSize) {
  const scale = inSize / outSize;
  const stretch = Math.max(1, scale);
  const taps = [];
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale - 0.5;
    const first = Math.floor(centre - 3 * stretch) + 1;
    const last = Math.ceil(centre + 3 * stretch) - 1;
    const weights = [];
    let total = 0;
    for (let i = first; i <= last; i++) {
      const w = lanczos3((i - centre) / stretch);
      weights.push(w);
      total += w;
    }
    taps.push({ first, weights: weights.map((w) => w / total) });
  }
  return taps;
}

/** Separable Lanczos-3 resize of a square RGBA image (side x side) to size x size; returns RGBA bytes. */
function lanczosResize(rgba, side, size) {
  const taps = lanczosTaps(side, size);
  const clampIndex = (i) => Math.min(side - 1, Math.max(0, i));
  const rows = new Float32Array(side * size * 3); // horizontal pass: side rows x size columns
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < size; x++) {
      const { first, weights } = taps[x];
      let r = 0,
        g = 0,
        b = 0;
      for (let k = 0; k < weights.length; k++) {
        const src = (y * side + clampIndex(first + k)) * 4;
        r += weights[k] * rgba[src];
        g += weights[k] * rgba[src + 1];
        b += weights[k] * rgba[src + 2];
      }
      const dst = (y * size + x) * 3;
      rows[dst] = r;
      rows[dst + 1] = g;
      rows[dst + 2] = b;
    }
  }
  const out = new Uint8ClampedArray(size * size * 4);
  for (let y = 0; y < size; y++) {
    const { first, weights } = taps[y];
    for (let x = 0; x < size; x++) {
      let r = 0,
        g = 0,
        b = 0;
      for (let k = 0; k < weights.length; k++) {
        const src = (clampIndex(first + k) * size + x) * 3;
        r += weights[k] * rows[src];
        g += weights[k] * rows[src + 1];
        b += weights[k] * rows[src + 2];
      }
      const dst = (y * size + x) * 4;
      out[dst] = Math.round(r);
      out[dst + 1] = Math.round(g);
      out[dst + 2] = Math.round(b);
      out[dst + 3] = 255;
    }
  }
  return out;
}

/**
 * The server's preprocessing, step for step: the square region (black outside the photo, as
 * src/infer/face-crop.ts extractFace), resized to imageSize, then the bundle's normalisation
 * (src/data/image.ts normalizeInto): per-image standardisation (x - mean) / max(std, 1/sqrt(N)) over all
 * pixels and channels, or fixed per-channel (x - mean[c]) * scale.
 */
function faceInput(bitmap, region, size, norm) {
  // Cut the square at full resolution, then resample with the same Lanczos-3 filter as sharp
  // (the canvas's own scaler differs enough to move ambiguous faces by several years).
  const side = Math.max(1, Math.round(region.w));
  const c = new OffscreenCanvas(side, side);
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, side, side);
  ctx.drawImage(bitmap, Math.round(region.x), Math.round(region.y), side, side, 0, 0, side, side);
  const rgba = lanczosResize(ctx.getImageData(0, 0, side, side).data, side, size);
  const n = size * size * 3;
  const out = new Float32Array(n);
  let sum = 0;
  let sumSq = 0;
  for (let i = 0, j = 0; i < rgba.length; i += 4) {
    for (let k = 0; k < 3; k++, j++) {
      const v = rgba[i + k];
      out[j] = v;
      sum += v;
      sumSq += v * v;
    }
  }
  if (norm.kind === 'mean-scale') {
    for (let j = 0; j < n; j++) out[j] = (out[j] - norm.mean[j % 3]) * norm.scale;
    return out;
  }
  const mean = sum / n;
  const std = Math.sqrt(Math.max(sumSq / n - mean * mean, 0));
  const scale = 1 / Math.max(std, 1 / Math.sqrt(n));
  for (let j = 0; j < n; j++) out[j] = (out[j] - mean) * scale;
  return out;
}

async function predictInBrowser(bitmap, detect) {
  const { tf, model, detect: findFaces } = await loadBrowserModel();
  const spec = state.info.preprocess;
  const size = spec.imageSize;
  let faces;
  if (detect) {
    // face-api takes an element or a tensor, not an ImageBitmap.
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    const found = await findFaces(canvas);
    // The rule the server applies (the bundle's calibrated one, or the predictor's fallback).
    const rule = state.info.faceCrop ?? spec.faceCrop ?? IDENTITY_RULE;
    // Left to right, as the server lists them.
    found.sort((a, b) => a.box.x - b.box.x || a.box.y - b.box.y);
    faces = found.map((d) => {
      const box = { x: d.box.x, y: d.box.y, w: d.box.width, h: d.box.height };
      return {
        box: clipBox(box, bitmap.width, bitmap.height),
        score: d.score,
        region: cropRegion(box, rule),
      };
    });
  } else {
    // The whole photo is the face crop: 'cover' = the centred square of the short side.
    const side = Math.min(bitmap.width, bitmap.height);
    const region = { x: (bitmap.width - side) / 2, y: (bitmap.height - side) / 2, w: side, h: side };
    faces = [{ box: { x: 0, y: 0, w: bitmap.width, h: bitmap.height }, score: 1, region }];
  }
  if (faces.length === 0) return [];

  const batch = new Float32Array(faces.length * size * size * 3);
  faces.forEach((f, i) => batch.set(faceInput(bitmap, f.region, size, spec.normalization), i * size * size * 3));
  const n = faces.length;
  const [ageProbs, genderProbs] = tf.tidy(() => {
    const x = tf.tensor4d(batch, [n, size, size, 3]);
    // preprocess.json flipAverage: also score the mirrored crops and average (src/infer/predictor.ts).
    const input = spec.flipAverage ? tf.concat([x, tf.reverse(x, 2)]) : x;
    const mean = (t) => {
      const p = tf.softmax(t);
      return spec.flipAverage ? tf.div(tf.add(p.slice(0, n), p.slice(n, n)), 2) : p;
    };
    const [age, gender] = model.predict(input);
    return [mean(age), mean(gender)];
  });
  const ages = await ageProbs.array();
  const genders = await genderProbs.array();
  tf.dispose([ageProbs, genderProbs]);

  return faces.map((f, i) => {
    // DEX: the age is the expectation over the classes, its spread the standard deviation.
    let age = 0;
    ages[i].forEach((p, k) => (age += p * (spec.age.min + k)));
    let variance = 0;
    ages[i].forEach((p, k) => (variance += p * (spec.age.min + k - age) ** 2));
    const pMale = genders[i][1];
    const gender = pMale >= 0.5 ? 'M' : 'F';
    return {
      box: f.box,
      score: f.score,
      age,
      ageSpread: Math.sqrt(variance),
      gender,
      pMale,
      label: `${gender}/${Math.round(age)}`,
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Drawing

function drawPhoto(bitmap, faces) {
  const canvas = $('#photo');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const unit = Math.max(bitmap.width, bitmap.height) / 400;
  ctx.lineWidth = Math.max(2, 2 * unit);
  ctx.font = `bold ${Math.max(14, Math.round(16 * unit))}px system-ui, sans-serif`;
  ctx.textBaseline = 'bottom';
  for (const f of faces) {
    const color = f.gender === 'M' ? '#2271b1' : '#d63638';
    ctx.strokeStyle = color;
    ctx.strokeRect(f.box.x, f.box.y, f.box.w, f.box.h);
    const text = f.label;
    const pad = 4 * unit;
    const tw = ctx.measureText(text).width + 2 * pad;
    const th = Math.max(14, Math.round(16 * unit)) + 2 * pad;
    // Above the box, or inside its top when the box touches the top edge (e.g. a face crop).
    const y = f.box.y - th >= 0 ? f.box.y - th : f.box.y;
    ctx.fillStyle = color;
    ctx.fillRect(f.box.x, y, tw, th);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, f.box.x + pad, y + th - pad);
  }
}

function listFaces(faces) {
  const list = $('#faces');
  if (faces.length === 0) {
    const li = document.createElement('li');
    li.textContent = 'No face found. For a photo that is already a face crop, untick "find faces".';
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(
    ...faces.map((f) => {
      const li = document.createElement('li');
      li.dataset.label = f.label;
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = f.label;
      li.append(
        label,
        ` age ${f.age.toFixed(1)} ± ${f.ageSpread.toFixed(1)}, p(male) ${f.pMale.toFixed(2)}` +
          (f.score < 1 ? `, detector ${f.score.toFixed(2)}` : ''),
      );
      return li;
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------

async function loadInfo() {
  const res = await fetch('/v1/model');
  if (!res.ok) throw new Error(`GET /v1/model answered ${res.status}`);
  state.info = await res.json();
  const p = state.info.preprocess;
  $('#model-info').textContent =
    `Model "${state.info.name}", ${p.imageSize}x${p.imageSize} input, detector ${state.info.detector}.`;
}

const infoReady = loadInfo();
setupInputs();
setMode('server');
infoReady.then(
  () => (document.body.dataset.ready = 'true'),
  (err) => setStatus(`Cannot reach the server: ${err.message}`, true),
);
