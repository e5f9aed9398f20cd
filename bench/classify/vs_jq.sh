#!/usr/bin/env bash
# `cxpulse classify` against `jq -c .` over the same large file (the sample
# events that are valid JSON, repeated: ~300k lines): wall-clock seconds of
# each (best of 3) and their ratio (above 1: classify is faster).
#   bench/classify/vs_jq.sh [CXPULSE] [COPIES]
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build/app/cxpulse}
[ -x "$bin" ] || { echo "vs_jq: $bin is missing: build it first (cmake -S . -B build && cmake --build build -j2)" >&2; exit 1; }
copies=${2:-100}
command -v jq >/dev/null || { echo "vs_jq: jq is missing (scripts/setup.sh installs it)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# jq stops at the first line that is not JSON: keep the valid ones
python3 -c 'import json, sys
for line in sys.stdin:
    try:
        json.loads(line)
        sys.stdout.write(line)
    except ValueError:
        pass' <"$root/config/sample/events.jsonl" >"$tmp/one.jsonl"
for _ in $(seq "$copies"); do cat "$tmp/one.jsonl"; done >"$tmp/events.jsonl"

best() { # best wall-clock seconds of 3 runs of "$@" (output discarded; a failed run stops the script)
    local b=
    for _ in 1 2 3; do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>"$tmp/err" || { echo "vs_jq: $* failed: $(head -c 300 "$tmp/err")" >&2; exit 1; }
        t1=$(date +%s.%N)
        b=$(awk -v t0="$t0" -v t1="$t1" -v b="$b" 'BEGIN { d = t1 - t0; if (b == "" || d < b) print d; else print b }')
    done
    echo "$b"
}
lines=$(wc -l <"$tmp/events.jsonl")
mb=$(( $(stat -c %s "$tmp/events.jsonl") / 1000000 ))
j=$(best jq -c . "$tmp/events.jsonl")
c=$(best "$bin" classify "$tmp/events.jsonl")
printf 'file: %d lines, %d MB; %d CPUs\n' "$lines" "$mb" "$(nproc)"
printf 'jq -c .          : %6.2f s\n' "$j"
printf 'cxpulse classify : %6.2f s\n' "$c"
printf 'ratio (jq time / classify time): %.2f\n' "$(awk -v j="$j" -v c="$c" 'BEGIN { print j / c }')"
