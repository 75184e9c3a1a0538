# agegender, CPU image (the default). Build and run:
#   docker build -t agegender .
#   docker run --rm -p 8080:8080 agegender                       # serve: page at http://localhost:8080/
#   docker run --rm -v "$PWD/../shared:/shared:ro" -v "$PWD/runs:/runs" agegender \
#     train --img-dir /shared/data/utkface --train-csv /runs/train.csv --val-csv /runs/val.csv --model-dir /runs/r1
# Not exercised by CI (no Docker there); kept minimal and conventional.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json tsconfig.web.json ./
COPY bin ./bin
COPY src ./src
COPY scripts ./scripts
# `npm ci` also runs `prepare` (the tsc build into dist/, and the web entry into dist/web/). The optional @tensorflow/tfjs-node fetches
# libtensorflow here (network at build time) and then gives train/serve the native CPU backend; when
# that download fails npm skips the optional package and the wasm backend is used.
RUN npm ci && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production
# oneDNN: the wasm+dnnl engine's convolutions (used when tfjs-node is not; see README "Engine notes").
RUN apt-get update && apt-get install -y --no-install-recommends libdnnl2 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY web ./web
COPY models ./models
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/agegender.js"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
