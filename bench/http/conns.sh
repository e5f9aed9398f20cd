#!/usr/bin/env bash
# Memory of the HTTP server's connections in a real `cxpulse run`: resident
# set size (VmRSS) with no client, then with N connections held open (default
# 128), each from its own loopback source address group (the server allows 16
# per client address) and kept alive by sending its request a byte at a time,
# well inside the 5 s idle limit. Prints both, and the growth per connection:
# the cost of the thread each connection gets. The mock cluster and a
# throwaway PostgreSQL run as in bench/e2e; the topic is empty.
# usage: bench/http/conns.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-128}
command -v python3 >/dev/null || { echo "http bench: python3 is missing" >&2; exit 1; }
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCX_TESTS=OFF >/dev/null
cmake --build build-bench -j2 --target cxpulse >/dev/null
bin=build-bench/app/cxpulse
work=$(mktemp -d "${TMPDIR:-/tmp}/cxpulse-http.XXXXXX")
state=$work/pg.state
cleanup() {
    [ -n "${hold_pid:-}" ] && kill "$hold_pid" 2>/dev/null || true
    [ -n "${run_pid:-}" ] && kill -TERM "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null || true
    [ -n "${mock_pid:-}" ] && kill "$mock_pid" 2>/dev/null || true
    deploy/local/pg-stop.sh --state "$state"
    rm -rf "$work"
}
trap cleanup EXIT
url=$(deploy/local/pg-start.sh --state "$state")
$bin migrate --pg "$url" >/dev/null
$bin mock-kafka --topic cx.events --partitions 4 >"$work/mock.out" 2>/dev/null &
mock_pid=$!
for _ in $(seq 50); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
brokers=$(head -1 "$work/mock.out")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$bin run --brokers "$brokers" --topic cx.events --group bench --pg "$url" \
    --http "127.0.0.1:$port" --log-level warn &
run_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
rss() { awk '/^VmRSS/ {print $2}' "/proc/$run_pid/status"; }
threads() { awk '/^Threads/ {print $2}' "/proc/$run_pid/status"; }
sleep 2 # the group joined, buffers allocated
rss0=$(rss)
thr0=$(threads)
python3 - "$port" "$N" >"$work/hold.out" <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000
socks = []
for i in range(n):
    s = socket.socket()
    s.bind(("127.0.0.%d" % (2 + i // 16), 0))  # 16 per address: the server's limit
    s.connect(("127.0.0.1", port))
    socks.append(s)
print("open", flush=True)
for k in range(len(req)):  # bounded: one byte per connection per second
    for s in socks:
        s.send(req[k:k + 1])
    time.sleep(1)
PY
hold_pid=$!
for _ in $(seq 100); do grep -q open "$work/hold.out" && break; sleep 0.1; done
sleep 3
rss1=$(rss)
thr1=$(threads)
echo "cxpulse run, resident memory: idle $((rss0 / 1024)) MB ($thr0 threads), with $N connections open $((rss1 / 1024)) MB ($thr1 threads)"
echo "per connection: $(( (rss1 - rss0) / N )) KB"
