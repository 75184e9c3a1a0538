#!/usr/bin/env bash
# Training speed of the seed network (basic-cnn, batch 32) on our engine vs PyTorch on this machine.
# Needs Debian's PyTorch: apt-get update && apt-get install -y python3-torch
#   bash bench/train-vs-torch.sh [sizes=64,128] [steps=6] [rounds=3] [threads=all cores]
# The two alternate for `rounds` rounds and the best round of each counts: on a shared machine that
# is the figure least distorted by other load (printed before and after).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES="${1:-64,128}"
STEPS="${2:-6}"
ROUNDS="${3:-3}"
THREADS="${4:-$(nproc)}"
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "PyTorch missing: apt-get update && apt-get install -y python3-torch" >&2
  exit 1
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads $THREADS"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=""
torch=""
for round in $(seq "$ROUNDS"); do
  ours+="$(npx tsx bench/train-vs-torch.ts --sizes "$SIZES" --steps "$STEPS" --threads "$THREADS")"$'\n'
  torch+="$("$PY" bench/train-vs-torch.py --sizes "$SIZES" --steps "$STEPS" --threads "$THREADS")"$'\n'
  echo "round $round done, load $(cut -d' ' -f1 /proc/loadavg)"
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
OURS="$ours" TORCH="$torch" node -e '
  const best = (s) => {
    const out = {};
    for (const r of s.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l))) {
      if (!out[r.size] || r.img_s > out[r.size].img_s) out[r.size] = r;
    }
    return out;
  };
  const ours = best(process.env.OURS), torch = best(process.env.TORCH);
  console.log(`engine: ${Object.values(ours)[0].backend}; torch ${Object.values(torch)[0].torch}`);
  console.log("size  batch   ours img/s   torch img/s (layout)        ours/torch   (best of rounds)");
  for (const size of Object.keys(ours)) {
    const o = ours[size], t = torch[size];
    console.log(
      `${String(size).padEnd(6)}${String(o.batch).padEnd(6)}${o.img_s.toFixed(1).padStart(11)}  ` +
        `${t.img_s.toFixed(1).padStart(12)} (${t.layout})`.padEnd(30) + (o.img_s / t.img_s).toFixed(2).padStart(11),
    );
  }
'
