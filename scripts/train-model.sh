#!/usr/bin/env bash
# Rebuilds the default model, config/model/default.cxm, from labeled events:
#   scripts/train-model.sh LABELS.jsonl [LABELS.jsonl...]
# Builds cxpulse (Release, in build-model/) with the current rule files and
# trains with `cxpulse train` (deterministic); `cxpulse eval` scores it. Rebuild
# cxpulse afterwards: the default model is compiled in.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 LABELS.jsonl [LABELS.jsonl...]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CXPULSE_MODEL_BUILD:-$root/build-model}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCX_TESTS=OFF -DCX_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target cxpulse >/dev/null
out=$root/config/model/default.cxm
mkdir -p "$(dirname "$out")"
# the built-in rules, whatever CXPULSE_RULES the shell has for a service
env -u CXPULSE_RULES -u CXPULSE_MODEL "$build/app/cxpulse" train "$@" --out "$out.tmp"
mv "$out.tmp" "$out"
ls -l "$out"
