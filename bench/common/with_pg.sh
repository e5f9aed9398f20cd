#!/usr/bin/env bash
# Runs a benchmark against a durable throwaway PostgreSQL: builds cxpulse and
# the benchmark (Release, in build-bench/), starts the server, migrates it,
# runs build-bench/bench/DIR/NAME URL ARGS..., and removes the server.
# usage: bench/common/with_pg.sh DIR/NAME [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=$1
shift
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCX_TESTS=OFF >/dev/null
cmake --build build-bench -j2 --target "${bench##*/}" cxpulse >/dev/null
state=$(mktemp "${TMPDIR:-/tmp}/cxpulse-bench-pg.XXXXXX")
trap 'deploy/local/pg-stop.sh --state "$state"' EXIT
url=$(deploy/local/pg-start.sh --durable --state "$state")
build-bench/app/cxpulse migrate --pg "$url" >/dev/null
"build-bench/bench/$bench" "$url" "$@"
