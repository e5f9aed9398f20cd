#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 server for tests, benchmarks and the demo:
# initdb + pg_ctl as a non-root user, listening on 127.0.0.1 and a free port,
# data in a new temporary folder. Prints the connection URL as the first line
# of stdout and writes a state file that pg-ctl.sh and pg-stop.sh read.
# It trusts every connection (no password) and its superuser can run programs
# as the server's OS user: while it runs, any user of this machine can use it.
# Use it on a machine of your own, never for data that matters.
#
# usage: deploy/local/pg-start.sh [--state FILE] [--durable]
#   --state FILE  where to write the state (default: ./cxpulse-pg.state)
#   --durable     keep fsync on (benchmarks); tests run with fsync off
set -euo pipefail

state=./cxpulse-pg.state
durable=0
while [ $# -gt 0 ]; do
    case "$1" in
        --state) state=$2; shift 2 ;;
        --durable) durable=1; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "pg-start.sh: unknown argument \"$1\"" >&2; exit 2 ;;
    esac
done

pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/initdb" ] || { echo "pg-start.sh: $pgbin/initdb not found (install postgresql-15)" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, run it as an unprivileged user.
runas=()
if [ "$(id -u)" = 0 ]; then
    user=${CX_PG_OS_USER:-postgres}
    id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    runas=(runuser -u "$user" --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cxpulse-pg.XXXXXX")
chmod 0755 "$dir"
[ ${#runas[@]} -eq 0 ] || chown "$user" "$dir"

"${runas[@]}" "$pgbin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }

opts="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=200"
opts="$opts -c shared_buffers=256MB -c max_wal_size=4GB"
[ "$durable" = 1 ] || opts="$opts -c fsync=off -c full_page_writes=off"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Below the kernel's range of ports for outgoing connections: while an outage
# test has the server stopped, an outgoing connection (a client retrying, a
# Kafka connection) could otherwise be given its port, and the server could
# not listen on it again.
low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
span=$((low - 20000))
[ "$span" -ge 2000 ] || span=40000
port=
for _ in $(seq 1 30); do
    p=$((20000 + RANDOM % span))
    port_busy "$p" && continue
    if "${runas[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $p $opts" start >/dev/null 2>&1; then
        port=$p
        break
    fi
done
if [ -z "$port" ]; then
    echo "pg-start.sh: could not start PostgreSQL; the end of its log:" >&2
    tail -5 "$dir/server.log" >&2 || true
    rm -rf "$dir"
    exit 1
fi

url="postgresql://postgres@127.0.0.1:$port/postgres"
cat >"$state" <<STATE
PG_DIR=$dir
PG_PORT=$port
PG_URL=$url
PG_OPTS="-p $port $opts"
PG_RUNAS="${runas[*]}"
STATE
echo "$url"
