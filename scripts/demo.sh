#!/usr/bin/env bash
# The main job on one machine: installs what is needed, builds cxpulse, starts
# a throwaway PostgreSQL, runs `cxpulse demo` against it (in-process mock
# Kafka, bundled sample data, full pipeline, summary), then removes the server.
#
# usage: scripts/demo.sh [extra cxpulse demo flags]
#   e.g. scripts/demo.sh --webhook URL   (tickets posted there; CXPULSE_WEBHOOK_SECRET signs them)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCX_TESTS=OFF -DCX_BENCH=OFF >/dev/null
cmake --build build -j2 --target cxpulse >/dev/null

state=$(mktemp "${TMPDIR:-/tmp}/cxpulse-demo-pg.XXXXXX")
trap 'deploy/local/pg-stop.sh --state "$state"' EXIT
url=$(deploy/local/pg-start.sh --state "$state")
build/app/cxpulse demo --pg "$url" "$@"
