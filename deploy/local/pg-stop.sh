#!/usr/bin/env bash
# Stops the throwaway PostgreSQL of pg-start.sh and removes its data folder.
#
# usage: deploy/local/pg-stop.sh [--state FILE]
set -euo pipefail
state=./cxpulse-pg.state
if [ "${1:-}" = --state ]; then state=$2; shift 2; fi
[ -f "$state" ] || exit 0
# empty: made by a caller before pg-start.sh, which failed; nothing runs
[ -s "$state" ] || { rm -f "$state"; exit 0; }
# shellcheck disable=SC1090
. "$state"
pgbin=/usr/lib/postgresql/15/bin
read -r -a runas <<<"$PG_RUNAS"
"${runas[@]}" "$pgbin/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
case "$PG_DIR" in */cxpulse-pg.*) rm -rf "$PG_DIR" ;; esac
rm -f "$state"
