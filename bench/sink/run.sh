#!/usr/bin/env bash
# Sink benchmark: starts a durable throwaway PostgreSQL, migrates it, runs
# bench_sink (sink rows/s vs plain COPY of the same rows), removes the server.
# usage: bench/sink/run.sh [N_EVENTS] [BATCH]
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCX_TESTS=OFF >/dev/null
cmake --build build-bench -j2 --target bench_sink cxpulse >/dev/null
state=$(mktemp "${TMPDIR:-/tmp}/cxpulse-bench-pg.XXXXXX")
trap 'deploy/local/pg-stop.sh --state "$state"' EXIT
url=$(deploy/local/pg-start.sh --durable --state "$state")
build-bench/app/cxpulse migrate --pg "$url" >/dev/null
build-bench/bench/sink/bench_sink "$url" "${1:-500000}" "${2:-10000}"
