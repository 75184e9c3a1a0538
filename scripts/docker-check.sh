#!/usr/bin/env bash
# Builds the agegender Docker image and proves that it answers: serve (healthz, a prediction over HTTP,
# the image's HEALTHCHECK), predict on a mounted folder with no network, non-root, image size, time to
# first answer. Cleans up what it started. Run by hand (npm test does not need Docker); docs/docker.md.
#
#   scripts/docker-check.sh [options] [PHOTO | FOLDER]...
#
# Photos: the arguments (files, or folders whose first two images are used), else two UTKFace crops from
# the test data folder (AGEGENDER_SHARED, or the one npm test reads by default) or data/utkface in the
# clone, else a grey image made inside the image (proves the pipeline, not the answers).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/docker-check.sh [options] [PHOTO | FOLDER]...
  --gpu           check Dockerfile.gpu instead (needs an NVIDIA GPU and the NVIDIA Container Toolkit)
  --tfjs-node     build the CPU image with TFJS_NODE=1 (native TensorFlow; the build downloads libtensorflow)
  --base IMAGE    base image for the build (default: node:22-bookworm-slim, pulled if absent; where no
                  registry answers, local/node22-bookworm, made from Debian packages and npm)
  --offline       never contact an image registry: use a local base image or make one
  --crop          the photos are face crops: predict without detection (default for *.chip.jpg)
  --detect        detect faces even in *.chip.jpg
  --port N        port for serve on 127.0.0.1 (default: a free one)
  --keep          keep the images built (and the base made) and the serve container's image cache
  -h, --help      this text
Environment: DEBIAN_MIRROR (for making the base; default: the mirror apt uses here), AGEGENDER_SHARED.
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GPU=0
TFJS_NODE=0
BASE=""
OFFLINE=0
CROP=auto
PORT=""
KEEP=0
PHOTO_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --gpu) GPU=1 ;;
    --tfjs-node) TFJS_NODE=1 ;;
    --base) BASE=${2:?--base needs an image}; shift ;;
    --base=*) BASE=${1#--base=} ;;
    --offline) OFFLINE=1 ;;
    --crop) CROP=1 ;;
    --detect) CROP=0 ;;
    --port) PORT=${2:?--port needs a number}; shift ;;
    --port=*) PORT=${1#--port=} ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "docker-check: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) PHOTO_ARGS+=("$1") ;;
  esac
  shift
done

OFFICIAL_BASE=node:22-bookworm-slim
LOCAL_BASE=local/node22-bookworm
if [ "$GPU" = 1 ]; then
  DOCKERFILE=Dockerfile.gpu IMAGE=agegender:gpu-check ENGINE=tensorflow GPU_FLAGS=(--gpus all)
elif [ "$TFJS_NODE" = 1 ]; then
  DOCKERFILE=Dockerfile IMAGE=agegender:tfjs-node-check ENGINE=tensorflow GPU_FLAGS=()
else
  DOCKERFILE=Dockerfile IMAGE=agegender:check ENGINE=wasm+dnnl GPU_FLAGS=()
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/agegender-docker-check.XXXXXX")
DOCKERD_PID=""
CONTAINERS=()
MADE_BASE=0
IMAGES_BEFORE=""
FAILED=1
T_START=$(date +%s)

say() { printf '[docker-check %4ss] %s\n' "$(($(date +%s) - T_START))" "$*"; }
die() { printf 'docker-check: FAIL: %s\n' "$*" >&2; exit 1; }
ms_now() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }

cleanup() {
  local rc=$?
  set +e
  for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
  if [ "$KEEP" = 0 ] && [ -n "$IMAGES_BEFORE" ]; then
    docker rmi "$IMAGE" >/dev/null 2>&1
    [ "$MADE_BASE" = 1 ] && docker rmi "$LOCAL_BASE" >/dev/null 2>&1
    # Images this run left behind (the build stage's, with the classic builder): newest first, three
    # passes, since a parent goes only once its children have.
    local id
    for _ in 1 2 3; do
      for id in $(docker images -a -q --no-trunc | awk '!seen[$0]++'); do
        grep -qx "$id" "$WORK/images-before" || docker rmi "$id" >/dev/null 2>&1
      done
    done
    say "removed the images and containers this run made (--keep keeps them)"
  elif [ "$KEEP" = 1 ]; then
    say "kept image $IMAGE$([ "$MADE_BASE" = 1 ] && echo " and base $LOCAL_BASE")"
  fi
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -9 "$DOCKERD_PID" 2>/dev/null
    say "stopped the dockerd it started (pid $DOCKERD_PID)"
  fi
  rm -rf "$WORK"
  [ "$FAILED" = 1 ] && [ "$rc" = 0 ] && rc=1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v docker >/dev/null || die "docker (the client) is not installed (Debian: apt-get install docker.io)"
command -v curl >/dev/null || die "curl is not installed"

# --- the daemon: one that answers, else one started here (bridge none: no container network of its own,
# the containers use the host's, all traffic stays on 127.0.0.1) -----------------------------------------
if docker info >/dev/null 2>&1; then
  say "using the Docker daemon that answers ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
else
  command -v dockerd >/dev/null || die "no Docker daemon answers and dockerd is not installed (apt-get install docker.io)"
  [ "$(id -u)" = 0 ] || die "no Docker daemon answers; starting one (dockerd) needs root"
  dockerd --bridge=none --iptables=false >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 20 "$WORK/dockerd.log" >&2; DOCKERD_PID=""; die "dockerd exited"; }
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -n 20 "$WORK/dockerd.log" >&2; die "dockerd did not answer in 60 s"; }
  say "started dockerd --bridge=none (pid $DOCKERD_PID, $(docker version -f '{{.Server.Version}}'))"
fi
docker images -a -q --no-trunc | sort -u >"$WORK/images-before"
IMAGES_BEFORE=1

# --- the base image ---------------------------------------------------------------------------------------
debian_mirror() {
  [ -n "${DEBIAN_MIRROR:-}" ] && { echo "$DEBIAN_MIRROR"; return; }
  local m
  m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' |
    grep -v -- '-security' | head -n 1)
  [ -z "$m" ] && m=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed -E 's/^deb (\[[^]]*\] )?//' | awk '{ print $1 }' | grep -v -- '-security' | head -n 1)
  echo "${m:-http://deb.debian.org/debian}"
}

make_base() {
  command -v debootstrap >/dev/null || die "making the base needs debootstrap (apt-get install debootstrap)"
  command -v npm >/dev/null || die "making the base needs npm (to fetch Node 22 from the npm registry)"
  [ "$(id -u)" = 0 ] || die "making the base (debootstrap) needs root"
  local mirror rootfs arch t0
  mirror=$(debian_mirror)
  rootfs="$WORK/rootfs"
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) die "no node-linux package for $(uname -m)" ;; esac
  t0=$(date +%s)
  say "making $LOCAL_BASE: debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  say "adding Node 22 (npm package node-linux-$arch@22) and npm 10 (npm package npm@10)"
  mkdir -p "$WORK/pack" "$rootfs/usr/local/lib/node_modules/npm"
  (cd "$WORK/pack" && npm pack --silent "node-linux-$arch@22" npm@10 >/dev/null) || die "npm pack failed"
  tar -xzf "$WORK"/pack/node-linux-*.tgz -C "$WORK/pack" package/bin/node
  install -m 0755 "$WORK/pack/package/bin/node" "$rootfs/usr/local/bin/node"
  tar -xzf "$WORK"/pack/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # The same suites as the official image (debootstrap writes only "bookworm main").
  local security=${mirror%/debian}/debian-security
  [ "$security" = "$mirror/debian-security" ] && security=http://deb.debian.org/debian-security
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
    "$mirror" "$mirror" "$security" >"$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  # Where this machine reaches the npm registry through a proxy with its own certificate authority (the
  # npm here has a cafile, or NODE_EXTRA_CA_CERTS is set), npm inside the build needs to trust it too:
  # the base gets those certificates as NODE_EXTRA_CA_CERTS (this local base only; not the official one).
  local ca changes=()
  ca=$(npm config get cafile 2>/dev/null || true)
  case "$ca" in null | undefined) ca="" ;; esac
  ca=${ca:-${NODE_EXTRA_CA_CERTS:-}}
  if [ -n "$ca" ] && [ -f "$ca" ]; then
    mkdir -p "$rootfs/etc/ssl/certs"
    cp "$ca" "$rootfs/etc/ssl/certs/npm-registry-ca.pem"
    changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/npm-registry-ca.pem')
    say "the npm here trusts $ca: the base trusts it too (NODE_EXTRA_CA_CERTS)"
  fi
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NPM_CONFIG_UPDATE_NOTIFIER=false' "${changes[@]}" \
    --change 'CMD ["node"]' - "$LOCAL_BASE" >/dev/null
  rm -rf "$rootfs"
  MADE_BASE=1
  say "made $LOCAL_BASE in $(($(date +%s) - t0)) s: $(docker run --rm --network none "$LOCAL_BASE" node --version)," \
    "npm $(docker run --rm --network none "$LOCAL_BASE" npm --version 2>/dev/null)"
}

if [ -n "$BASE" ]; then
  docker image inspect "$BASE" >/dev/null 2>&1 || docker pull "$BASE" >/dev/null || die "base image $BASE: not found"
elif docker image inspect "$OFFICIAL_BASE" >/dev/null 2>&1; then
  BASE=$OFFICIAL_BASE
elif docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
  BASE=$LOCAL_BASE
elif [ "$OFFLINE" = 0 ] && say "pulling $OFFICIAL_BASE" && timeout 300 docker pull -q "$OFFICIAL_BASE" >/dev/null 2>&1; then
  BASE=$OFFICIAL_BASE
else
  [ "$OFFLINE" = 0 ] && say "no image registry answered"
  make_base
  BASE=$LOCAL_BASE
fi
NODE_VERSION=$(docker run --rm --network none "$BASE" node --version)
case "$NODE_VERSION" in v22.* | v24.*) ;; *) die "base $BASE has Node $NODE_VERSION; the images need Node 22 or 24" ;; esac
say "base image $BASE (Node $NODE_VERSION)"

# --- build --------------------------------------------------------------------------------------------------
say "building $IMAGE from $DOCKERFILE (docker build --network host; log: the steps)"
T_BUILD=$(date +%s)
set +e
BUILD_ARGS=(--build-arg "BASE_IMAGE=$BASE")
[ "$GPU" = 1 ] || BUILD_ARGS+=(--build-arg "TFJS_NODE=$TFJS_NODE")
docker build --network host -f "$ROOT/$DOCKERFILE" -t "$IMAGE" "${BUILD_ARGS[@]}" "$ROOT" >"$WORK/build.log" 2>&1 &
BUILD_PID=$!
tail -n +1 -f "$WORK/build.log" --pid=$BUILD_PID 2>/dev/null | grep --line-buffered -E '^(Step [0-9]+/[0-9]+ : (FROM|RUN)|#[0-9]+ \[)' |
  cut -c1-110 | sed -u 's/^/    /'
wait $BUILD_PID
BUILD_RC=$?
set -e
if [ "$BUILD_RC" != 0 ]; then tail -n 40 "$WORK/build.log" >&2; die "docker build failed"; fi
BUILD_S=$(($(date +%s) - T_BUILD))
SIZE_BYTES=$(docker image inspect -f '{{.Size}}' "$IMAGE")
SIZE_MB=$(awk -v b="$SIZE_BYTES" 'BEGIN { printf "%.0f MB", b / 1e6 }')
BASE_MB=$(awk -v b="$(docker image inspect -f '{{.Size}}' "$BASE")" 'BEGIN { printf "%.0f MB", b / 1e6 }')
say "built $IMAGE in $BUILD_S s: $SIZE_MB (base $BASE_MB)"

# --- photos -------------------------------------------------------------------------------------------------
PHOTOS=()
add_folder() { # the first two images of a folder, sorted by name
  local f
  while IFS= read -r f; do PHOTOS+=("$f"); done < <(find "$1" -maxdepth 1 -type f \
    \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.webp' \) | LC_ALL=C sort | head -n 2)
}
PHOTO_FROM=""
GREY=0
if [ ${#PHOTO_ARGS[@]} -gt 0 ]; then
  for p in "${PHOTO_ARGS[@]}"; do
    if [ -d "$p" ]; then add_folder "$p"; elif [ -f "$p" ]; then PHOTOS+=("$p"); else die "$p: no such file or folder"; fi
  done
  [ ${#PHOTOS[@]} -gt 0 ] || die "no images in ${PHOTO_ARGS[*]}"
  PHOTO_FROM="the arguments"
else
  for d in ${AGEGENDER_SHARED:+"$AGEGENDER_SHARED/data/utkface"} "$ROOT/../shared/data/utkface" "$ROOT/data/utkface"; do
    [ -d "$d" ] || continue
    # The crops models/default/golden.json records answers for, when present: the answers can be compared.
    while IFS= read -r f; do
      [ -f "$d/$f" ] && [ ${#PHOTOS[@]} -lt 2 ] && PHOTOS+=("$d/$f")
    done < <(grep -o '"file": *"[^"]*"' "$ROOT/models/default/golden.json" | sed 's/.*"\([^"]*\)"$/\1/' | awk '!seen[$0]++')
    [ ${#PHOTOS[@]} -gt 0 ] || add_folder "$d"
    [ ${#PHOTOS[@]} -gt 0 ] && { PHOTO_FROM="the data folder $(cd "$d" && pwd)"; break; }
  done
fi
if [ ${#PHOTOS[@]} -eq 0 ]; then
  # No photo anywhere: a grey image, made with the image's own sharp. Answers then mean nothing, only
  # that the model ran.
  mkdir -p "$WORK/photos"
  docker run --rm --network none --user "$(id -u):$(id -g)" -v "$WORK/photos:/out" --entrypoint node "$IMAGE" \
    -e "require('sharp')({ create: { width: 96, height: 96, channels: 3, background: '#808080' } }).jpeg().toFile('/out/grey.jpg')"
  PHOTOS=("$WORK/photos/grey.jpg")
  CROP=1
  PHOTO_FROM="a grey image from the image (no photo given: pass one, or a folder, as an argument)"
  GREY=1
fi
HTTP_PHOTO=${PHOTOS[0]}
RUN_PHOTO=${PHOTOS[1]:-${PHOTOS[0]}}
detect_for() { # true or false: crops are predicted without detection
  if [ "$CROP" = 1 ]; then echo false; elif [ "$CROP" = 0 ]; then echo true
  else case "$1" in *.chip.jpg) echo false ;; *) echo true ;; esac; fi
}
say "photos from $PHOTO_FROM: $(basename "$HTTP_PHOTO") (HTTP), $(basename "$RUN_PHOTO") (docker run)"

# What models/default/golden.json expects for a crop (no detection), read inside the image: "" if unknown.
golden_label() {
  docker run --rm --network none --entrypoint node "$IMAGE" -e '
    const g = JSON.parse(require("fs").readFileSync("/app/models/default/golden.json", "utf8"));
    const c = g.cases.find((c) => c.file === process.argv[1] && c.mode === "no-detect");
    console.log(c && c.faces.length === 1 ? c.faces[0].label : "");' "$1" 2>/dev/null || true
}

# --- serve --------------------------------------------------------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "$PORT" ]; then
  for _ in $(seq 1 50); do
    PORT=$((20000 + RANDOM % 40000))
    port_free "$PORT" && break
  done
fi
port_free "$PORT" || die "port $PORT on 127.0.0.1 is in use"
NAME="agegender-check-$$"
say "docker run -d --network host $IMAGE serve --host 127.0.0.1 --port $PORT"
T0=$(ms_now)
CID=$(docker run -d --name "$NAME" --network host "${GPU_FLAGS[@]}" --health-interval 2s \
  "$IMAGE" serve --host 127.0.0.1 --port "$PORT")
CONTAINERS+=("$CID")
URL="http://127.0.0.1:$PORT"
running() { [ "$(docker inspect -f '{{.State.Running}}' "$CID" 2>/dev/null)" = true ]; }

HEALTHZ=""
for _ in $(seq 1 600); do
  running || { docker logs "$CID" 2>&1 | tail -n 20 >&2; die "the serve container exited"; }
  HEALTHZ=$(curl -fsS -m 2 "$URL/healthz" 2>/dev/null) && break
  sleep 0.2
done
[ -n "$HEALTHZ" ] || { docker logs "$CID" 2>&1 | tail -n 20 >&2; die "$URL/healthz did not answer in 120 s"; }
T_LISTEN=$(($(ms_now) - T0))
printf '%s' "$HEALTHZ" | grep -q '"status":"ok"' || die "/healthz answered without status ok: $HEALTHZ"
say "GET /healthz after $(secs "$T_LISTEN"): $HEALTHZ"

HTTP_DETECT=$(detect_for "$HTTP_PHOTO")
ANSWER=""
for _ in $(seq 1 60); do
  ANSWER=$(curl -fsS -m 60 -F "image=@$HTTP_PHOTO" "$URL/v1/predict?detect=$HTTP_DETECT" 2>"$WORK/curl.err") && break
  running || { docker logs "$CID" 2>&1 | tail -n 20 >&2; die "the serve container exited"; }
  sleep 0.5
done
[ -n "$ANSWER" ] || { cat "$WORK/curl.err" >&2; die "POST /v1/predict failed"; }
T_FIRST=$(($(ms_now) - T0))
HTTP_LABEL=$(printf '%s' "$ANSWER" | grep -o '"label":"[^"]*"' | head -n 1 | cut -d'"' -f4)
[ -n "$HTTP_LABEL" ] || [ "$HTTP_DETECT" = true ] || die "POST /v1/predict answered without a face: $ANSWER"
say "POST /v1/predict (curl -F image=@$(basename "$HTTP_PHOTO"), detect=$HTTP_DETECT) after $(secs "$T_FIRST"): $ANSWER"

SERVE_LINE=$(docker logs "$CID" 2>&1 | grep -m 1 'agegender: serving' || true)
SERVE_ENGINE_FULL=$(printf '%s' "$SERVE_LINE" | sed -n 's/.* on \(\(wasm+dnnl\|wasm\|tensorflow\|cpu\)\( .*\)\?\)$/\1/p')
SERVE_ENGINE=${SERVE_ENGINE_FULL%% *}
say "serve log: $SERVE_LINE"
[ "$SERVE_ENGINE" = "$ENGINE" ] || die "serve runs on '$SERVE_ENGINE', expected $ENGINE"

UID_IN=$(docker exec "$CID" id -u)
USER_IN=$(docker exec "$CID" id -un)
[ "$UID_IN" != 0 ] || die "the container runs as root"
say "docker exec id: uid $UID_IN ($USER_IN)"

HEALTH=""
for _ in $(seq 1 90); do
  HEALTH=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$CID")
  [ "$HEALTH" = healthy ] || [ "$HEALTH" = unhealthy ] && break
  sleep 1
done
T_HEALTHY=$(($(ms_now) - T0))
[ "$HEALTH" = healthy ] || {
  docker inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}' "$CID" >&2
  die "HEALTHCHECK status: ${HEALTH:-none}"
}
say "HEALTHCHECK (GET /healthz, run every 2 s here): healthy $(secs "$T_HEALTHY") after start"

docker stop -t 20 "$CID" >/dev/null
STOP_LINE=$(docker logs "$CID" 2>&1 | grep -m 1 'agegender: SIGTERM' || true)
say "docker stop: exit code $(docker inspect -f '{{.State.ExitCode}}' "$CID")${STOP_LINE:+ ($STOP_LINE)}"

# --- predict on a mounted folder, no network ----------------------------------------------------------------
RUN_DIR=$(cd "$(dirname "$RUN_PHOTO")" && pwd)
RUN_NAME=$(basename "$RUN_PHOTO")
RUN_DETECT=$(detect_for "$RUN_PHOTO")
PREDICT_ARGS=(predict "/photos/$RUN_NAME")
[ "$RUN_DETECT" = false ] && PREDICT_ARGS+=(--no-detect)
say "docker run --rm --network none --read-only -t -v $RUN_DIR:/photos:ro $IMAGE ${PREDICT_ARGS[*]}"
# -t: stderr is a terminal, so predict names its engine.
RUN_OUT=$(docker run --rm --network none --read-only -t "${GPU_FLAGS[@]}" -v "$RUN_DIR:/photos:ro" \
  "$IMAGE" "${PREDICT_ARGS[@]}" | tr -d '\r') || { printf '%s\n' "$RUN_OUT" >&2; die "docker run predict failed"; }
printf '%s\n' "$RUN_OUT" | sed 's/^/    /'
RUN_ENGINE_FULL=$(printf '%s\n' "$RUN_OUT" | sed -n 's/^agegender: engine \(.*\)$/\1/p' | head -n 1)
RUN_ENGINE=${RUN_ENGINE_FULL%% *}
RUN_LABEL=$(printf '%s\n' "$RUN_OUT" | grep -m 1 "face 1" | awk '{ print $4 }' || true)
[ "$RUN_ENGINE" = "$ENGINE" ] || die "predict runs on '$RUN_ENGINE', expected $ENGINE"
[ -n "$RUN_LABEL" ] || [ "$RUN_DETECT" = true ] || die "predict gave no answer"

with_golden() { # "M/7" or "M/7 (golden.json: M/7, same)"
  local g
  [ "$GREY" = 1 ] && { echo "$2 (a grey image, not a face: shows only that the model ran)"; return; }
  g=$(golden_label "$(basename "$1")")
  if [ -n "$g" ] && [ "$(detect_for "$1")" = false ]; then
    [ "$g" = "$2" ] && echo "$2 (golden.json: $g, same)" || echo "$2 (golden.json: $g, DIFFERENT)"
  else
    echo "${2:-no face found}"
  fi
}
HTTP_RESULT=$(with_golden "$HTTP_PHOTO" "$HTTP_LABEL")
RUN_RESULT=$(with_golden "$RUN_PHOTO" "$RUN_LABEL")

FAILED=0
cat <<EOF

== agegender docker check: PASS ==
image          $IMAGE from $DOCKERFILE, base $BASE (Node $NODE_VERSION)
image size     $SIZE_MB (docker image inspect .Size; base alone $BASE_MB); built in $BUILD_S s
engine         serve: $SERVE_ENGINE_FULL
               predict: $RUN_ENGINE_FULL
user           uid $UID_IN ($USER_IN), not root
healthz        $HEALTHZ
HEALTHCHECK    healthy (it GETs /healthz, which answers after a real prediction)
HTTP predict   $(basename "$HTTP_PHOTO") -> $HTTP_RESULT
docker run     $(basename "$RUN_PHOTO") -> $RUN_RESULT (--network none, --read-only, folder mounted read-only)
first answer   $(secs "$T_FIRST") from docker run -d to the POST /v1/predict answer (/healthz, itself a prediction, after $(secs "$T_LISTEN"))
photos from    $PHOTO_FROM
EOF
