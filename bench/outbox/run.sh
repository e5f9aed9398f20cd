#!/usr/bin/env bash
# Outbox benchmark: bench_outbox (claims behind a backlog of blocked
# notifications, against the claim of schema version 10 in the same run) on a
# durable throwaway PostgreSQL, started, migrated and removed around it.
# usage: bench/outbox/run.sh [TICKETS] [TRANSITIONS] [FRESH]
exec "$(dirname "$0")/../common/with_pg.sh" outbox/bench_outbox "${1:-2000}" "${2:-100}" "${3:-20}"
