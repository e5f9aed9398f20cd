#!/usr/bin/env bash
# Stops or starts again the throwaway PostgreSQL of pg-start.sh (outage tests).
#
# usage: deploy/local/pg-ctl.sh [--state FILE] stop [fast|immediate] | start | status
set -euo pipefail
state=./cxpulse-pg.state
if [ "${1:-}" = --state ]; then state=$2; shift 2; fi
[ -f "$state" ] || { echo "pg-ctl.sh: no state file \"$state\"" >&2; exit 2; }
# shellcheck disable=SC1090
. "$state"
pgbin=/usr/lib/postgresql/15/bin
read -r -a runas <<<"$PG_RUNAS"
case "${1:-}" in
    stop) "${runas[@]}" "$pgbin/pg_ctl" -D "$PG_DIR/data" -m "${2:-fast}" -w stop >/dev/null ;;
    start)
        if ! "${runas[@]}" "$pgbin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
            -o "$PG_OPTS" start >/dev/null; then
            echo "pg-ctl.sh: PostgreSQL did not start again; the end of its log:" >&2
            tail -5 "$PG_DIR/server.log" >&2 || true
            exit 1
        fi ;;
    status) "${runas[@]}" "$pgbin/pg_ctl" -D "$PG_DIR/data" status ;;
    *) echo "usage: pg-ctl.sh [--state FILE] stop [fast|immediate] | start | status" >&2; exit 2 ;;
esac
