// The agegender page: a photo (file, drop or webcam) goes either to the server's /v1/predict, or through
// the same model and the same preprocessing right here with tfjs, in which case nothing is uploaded.
// Plain ES module, no build step; the in-browser mode imports the library's browser entry from /lib/.

const $ = (sel) => document.querySelector(sel);

const state = {
  /** 'server' | 'browser' */
  mode: 'server',
  /** GET /v1/model: name, detector, preprocess (the bundle's preprocess.json), metrics. */
  info: null,
  /** The current photo: the encoded blob (sent to the server) and its decoded bitmap (drawn, or run here). */
  current: null,
  /** Promise of the in-browser predictor (agegender/web loadPredictor) once that mode was switched on. */
  browser: null,
  /**
   * Ignore answers of a photo that was replaced meanwhile, or of a mode or detection setting changed since;
   * a photo still being decoded goes on only if nothing newer was picked.
   */
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
  // A new photo retires the answer still pending for the previous one at once, before the decode below
  // yields: otherwise that older answer could land meanwhile and be shown as this photo's.
  // Until it is decoded there is no current photo, so a mode or detection switch meanwhile re-runs nothing
  // (and leaves state.run alone); the photo then runs in whatever mode is set by then.
  const run = ++state.run;
  state.current = null;
  setStatus('Reading the photo…');
  $('#faces').replaceChildren();
  // imageOrientation 'from-image' applies EXIF rotation, as the server's sharp .rotate() does.
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image' });
  } catch (err) {
    // An unreadable file leaves nothing of the previous photo on screen.
    if (run === state.run) {
      clearPhoto();
      throw err;
    }
    return;
  }
  if (run !== state.run) return; // a newer photo was picked while this one decoded
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
    const found =
      faces.length === 0 ? 'No face found' : `${faces.length} face${faces.length === 1 ? '' : 's'}`;
    setStatus(`${found} in ${ms} ms (${where}).`);
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

/**
 * The library's browser entry (dist/web/agegender.js, served under /lib/): the same detector, crop rule,
 * preprocessing and read-out as the server, here in the page. Loaded only when this mode is first used.
 */
function loadBrowserModel() {
  state.browser ??= (async () => {
    await infoReady;
    const { loadPredictor } = await import('/lib/agegender.js');
    const predictor = await loadPredictor({
      modelUrl: '/model/',
      detectorUrl: '/vendor/face-api-model/',
      wasmUrl: '/lib/',
      backend: backendOrder(),
      detector: state.info.detector,
    });
    state.backend = predictor.backend;
    if (state.mode === 'browser') $('#mode-banner').textContent = banner('browser');
    return predictor;
  })();
  state.browser.catch(() => (state.browser = null));
  return state.browser;
}

async function predictInBrowser(bitmap, detect) {
  const predictor = await loadBrowserModel();
  return predictor.predict(bitmap, { detect });
}

// ---------------------------------------------------------------------------------------------------------
// Drawing

function clearPhoto() {
  const canvas = $('#photo');
  canvas.width = 0;
  canvas.height = 0;
}

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
