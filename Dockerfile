# agegender, CPU image (the default): the wasm engine with oneDNN (Debian's libdnnl2) for convolutions.
#   docker build -t agegender .
#   docker run --rm -p 8080:8080 agegender                                  # serve: http://localhost:8080/
#   docker run --rm --network none -v "$PWD/photos:/photos:ro" agegender predict /photos
# More (training on a mounted dataset, the GPU image, the check script): docs/docker.md.
#
# Build arguments:
#   BASE_IMAGE  Node 22 on Debian 12 (default node:22-bookworm-slim); any image with the same layout
#               (node and npm in /usr/local, apt) will do; scripts/docker-check.sh passes one it makes
#               from Debian packages and npm where no image registry answers.
#   TFJS_NODE=1 install @tensorflow/tfjs-node (native TensorFlow, its install script downloads
#               libtensorflow at build time) and run on it instead of wasm+dnnl; default 0.
# Proven by scripts/docker-check.sh (build, serve, healthz, predict over HTTP and on a mounted folder
# without network, non-root).

ARG BASE_IMAGE=node:22-bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG TFJS_NODE=0
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json tsconfig.web.json ./
COPY bin ./bin
COPY src ./src
COPY web ./web
COPY scripts/build-web.mjs ./scripts/
# No install scripts: the tree's are koffi's and esbuild's (both find their prebuilt binaries without
# them) and a core-js banner; the optional peer @tensorflow/tfjs-node (whose install script downloads
# libtensorflow) is not installed by npm ci at all. So the install needs only the npm registry.
RUN npm ci --ignore-scripts --no-audit --no-fund \
  && npm run build
# Keep exactly what runs: by default wasm+dnnl (koffi binds libdnnl) and no tfjs-node; with TFJS_NODE=1
# tfjs-node (its install script fetches libtensorflow now; the package.json change stays in the image)
# and no koffi. Then drop the dev tools and the source maps (200 MB in node_modules, unused at run time).
RUN if [ "$TFJS_NODE" = 1 ]; then \
      npm pkg delete 'optionalDependencies[koffi]' \
      && npm install --save-exact --no-audit --no-fund @tensorflow/tfjs-node@4.22.0 \
      && node -e "require('@tensorflow/tfjs-node')"; \
    else \
      node -e "require('koffi')"; \
    fi \
  && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
  && rm package-lock.json \
  && find dist node_modules -name '*.map' -type f -delete

FROM ${BASE_IMAGE}
ARG TFJS_NODE=0
# libdnnl2: oneDNN for wasm+dnnl, libturbojpeg0: preprocess's JPEG fast path (neither with TFJS_NODE=1,
# which leaves koffi out). A font and fontconfig's settings: the text of
# the PNGs that preprocess and train draw (histograms, learning curves) and of predict --annotate's labels.
RUN apt-get update \
  && apt-get install -y --no-install-recommends fontconfig-config fonts-dejavu-core \
    $([ "$TFJS_NODE" = 1 ] || echo libdnnl2 libturbojpeg0) \
  && apt-get clean \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --system --gid 10001 agegender \
  && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin agegender
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY LICENSE ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY web ./web
COPY models/default ./models/default
# The font cache, written by sharp's own fontconfig (its format, not Debian's fc-cache's) while root may.
RUN node -e "require('sharp')({ text: { text: 'agegender M/46' } }).png().toBuffer()"
# Runs as a user without privileges; files it writes to a mounted folder belong to uid 10001 unless the
# container runs with --user "$(id -u):$(id -g)".
USER agegender
EXPOSE 8080
# Healthy = GET /healthz answers 200, which it does only after a real prediction (a grey crop through
# the model, redone every 5 s at most), not merely because the port is open. It reads --host/--port from
# the serve process's command line, so another --port needs nothing more; containers running predict or
# train report healthy.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["node", "-e", "\
const fs = require('fs');\
const argsOf = (p) => { try { return fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').split(String.fromCharCode(0)); } catch { return []; } };\
const a = fs.readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p)).map(argsOf)\
  .find((x) => (x[1] || '').endsWith('agegender.js') && x[2] === 'serve');\
if (!a) process.exit(0);\
const opt = (n, d) => { const i = a.indexOf(n); if (i > 0 && a[i + 1]) return a[i + 1];\
  const e = a.find((s) => s.startsWith(n + '=')); return e ? e.slice(n.length + 1) : d; };\
let host = opt('--host', '127.0.0.1'); if (host === '0.0.0.0' || host === '::') host = '127.0.0.1';\
if (host.includes(':')) host = '[' + host + ']';\
fetch('http://' + host + ':' + opt('--port', '8080') + '/healthz', { signal: AbortSignal.timeout(9000) })\
  .then((r) => r.json().then((j) => process.exit(r.ok && j.status === 'ok' ? 0 : 1)))\
  .catch(() => process.exit(1));"]
ENTRYPOINT ["node", "bin/agegender.js"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
