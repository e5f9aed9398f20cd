#!/usr/bin/env bash
# Sink benchmark: bench_sink (sink rows/s vs plain COPY of the same rows) on a
# durable throwaway PostgreSQL, started, migrated and removed around it.
# usage: bench/sink/run.sh [N_EVENTS] [BATCH]
exec "$(dirname "$0")/../common/with_pg.sh" sink/bench_sink "${1:-500000}" "${2:-10000}"
