#!/usr/bin/env bash
# Outbox benchmark: starts a durable throwaway PostgreSQL, migrates it, runs
# bench_outbox (claims behind a backlog of blocked notifications, against the
# claim of schema version 10 in the same run), removes the server.
# usage: bench/outbox/run.sh [TICKETS] [TRANSITIONS] [FRESH]
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCX_TESTS=OFF >/dev/null
cmake --build build-bench -j2 --target bench_outbox cxpulse >/dev/null
state=$(mktemp "${TMPDIR:-/tmp}/cxpulse-bench-pg.XXXXXX")
trap 'deploy/local/pg-stop.sh --state "$state"' EXIT
url=$(deploy/local/pg-start.sh --durable --state "$state")
build-bench/app/cxpulse migrate --pg "$url" >/dev/null
build-bench/bench/outbox/bench_outbox "$url" "${1:-2000}" "${2:-100}" "${3:-20}"
