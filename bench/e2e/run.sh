#!/usr/bin/env bash
# End-to-end benchmark, Kafka -> cxpulse run -> PostgreSQL, on loopback.
#  1. N events (default 1,000,000) are loaded into a mock cluster running in
#     its own process (64 lz4-compressed partitions: the mock keeps only 5 MB /
#     100k messages per partition) and counted with kcat before timing.
#     The server is warmed up first (WAL written and checkpointed, shared
#     buffers touched), so that cxpulse and the baselines run alike.
#  2. Baselines in the same run: kcat -C reading the topic to /dev/null, and a
#     plain COPY of cxpulse's own final rows into the same tables: the N events,
#     the signal rows and the tickets as they stood once the N were stored
#     (exported then), in one transaction after TRUNCATE.
#  3. cxpulse run consumes it all: events/s and peak RSS (GNU time); also from
#     its first stored batch on (start-up and group join excluded).
#  4. Latency: 5,000 events/s offered for 20 s; produce -> stored time per event
#     (the commit time of its row, track_commit_timestamp, minus the producer's
#     send time). cxpulse runs with fetch.wait.max.ms 10: librdkafka's mock
#     broker holds a fetch that finds nothing for all of fetch.wait.max.ms
#     (500 ms by default) even when messages arrive meanwhile, where a Kafka
#     broker answers as soon as they do (fetch.min.bytes 1).
#  5. cxpulse reclassify of everything stored, with only the rule version
#     changed: events/s against ingest's, over the whole run and from its first
#     stored batch on.
# Events arrive in event-time order (1M over a month), as a topic carries them;
# SCATTER=1 scatters event time instead (consecutive events days apart: every
# batch touches thousands of signal windows), the worst case for signals and
# ticket evaluation; SCATTER=random spreads the backlog's event time uniformly
# over 20 days (the live phase is scattered as with SCATTER=1).
# PARTS sets the partition count (default 64); TEXT_BYTES=B makes each event's
# text its sentence repeated to at least B bytes (larger events); ATTRS=K
# gives each event K more small attributes (at most 60000: ~840 KB events).
# Also printed: PostgreSQL's disk (cx.events with its indexes, and the whole cx
# schema) and WAL per event stored, as the ingest left them.
# cxpulse's own CPU (user + system, from /proc) is read when the N events are
# stored, per event: over the whole run, and from the first stored batch on
# (start-up and group join excluded); next to kcat's own CPU for the topic.
# CXPULSE_BIN runs another cxpulse binary (an older build: bench/e2e/compare.sh)
# and INGEST_ONLY=1 stops after step 3's figures (no latency, reclassify or
# COPY baseline; those need this tree's schema).
# usage: [SCATTER=1|random] [PARTS=64] [TEXT_BYTES=B] [ATTRS=K] [CXPULSE_BIN=PATH] [INGEST_ONLY=1] bench/e2e/run.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000000}
mode=${SCATTER:+scattered}
gen_mode=$mode
[ "${SCATTER:-}" = random ] && gen_mode=random
PARTS=${PARTS:-64}
for t in /usr/bin/time bc; do command -v $t >/dev/null || { echo "e2e: $t is missing (scripts/setup.sh installs it)" >&2; exit 1; }; done
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCX_TESTS=OFF >/dev/null
cmake --build build-bench -j2 --target cxpulse e2e_tool >/dev/null
bin=${CXPULSE_BIN:-build-bench/app/cxpulse}
tool=build-bench/bench/e2e/e2e_tool
work=$(mktemp -d "${TMPDIR:-/tmp}/cxpulse-e2e.XXXXXX")
state=$work/pg.state
cleanup() {
    [ -n "${run_pid:-}" ] && pkill -TERM -P "$run_pid" 2>/dev/null || true
    [ -n "${mock_pid:-}" ] && kill "$mock_pid" 2>/dev/null || true
    deploy/local/pg-stop.sh --state "$state"
    rm -rf "$work"
}
trap cleanup EXIT
url=$(deploy/local/pg-start.sh --durable --state "$state")
# commit times, for the latency phase (a restart is needed to turn them on)
psql -qX "$url" -c "ALTER SYSTEM SET track_commit_timestamp = on"
deploy/local/pg-ctl.sh --state "$state" stop
deploy/local/pg-ctl.sh --state "$state" start
$bin migrate --pg "$url" >/dev/null
# The server as one that has been running: WAL segments to recycle and its
# shared memory in use. A fresh one would make cxpulse's run, the first
# writer, pay for creating (zero-filling) each new WAL segment and touching
# each shared buffer the first time (5-10% of its PostgreSQL CPU in a profile),
# and the plain COPY, later in the same server, would not. ~2 KB of WAL per event.
psql -qX "$url" -c "CREATE TABLE bench_warm (g int, pad text)" \
    -c "INSERT INTO bench_warm SELECT g, repeat('x', 400) FROM generate_series(1, 4 * $N) g" \
    -c "DROP TABLE bench_warm" -c "CHECKPOINT"
now() { date +%s.%N; }
# PostgreSQL's CPU so far, in seconds: the postmaster with the backends it has
# reaped (cutime, cstime) and those still running (utime, stime).
. "$state"
pg_cpu() {
    local pm; pm=$(head -1 "$PG_DIR/data/postmaster.pid")
    { awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat"
      for c in $(pgrep -P "$pm"); do awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || true; done
    } | awk -v hz="$(getconf CLK_TCK)" '{s += $1} END {printf "%.2f", s / hz}'
}
us_per() { echo "scale=1; ($2 - $1) * 1000000 / $3" | bc; }
psqlq() { psql -qtAX "$url" -c "$1"; }

$bin mock-kafka --topic cx.events --partitions $PARTS >"$work/mock.out" 2>/dev/null &
mock_pid=$!
for _ in $(seq 50); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
brokers=$(head -1 "$work/mock.out")

echo "generating and loading $N events into $PARTS partitions ..."
$tool gen "$N" $gen_mode >"$work/events.jsonl"
$bin replay --brokers "$brokers" --topic cx.events "$work/events.jsonl" 2>/dev/null
t0=$(now)
count=$(/usr/bin/time -f '%U %S' -o "$work/kcat.cpu" \
    kcat -C -b "$brokers" -t cx.events -o beginning -e -q -f '%s\n' 2>/dev/null | wc -l)
t1=$(now)
[ "$count" -eq "$N" ] || { echo "topic holds $count of $N messages: the mock dropped some" >&2; exit 1; }
kcat_rate=$(echo "$N / ($t1 - $t0)" | bc)

echo "running cxpulse (the first group join takes ~3 s of the time) ..."
c0=$(pg_cpu)
wal0=$(psqlq "SELECT pg_current_wal_lsn()")
t0=$(now)
# the events are dated October 2026: the ticket rules judge them as live
# ones (tickets.max_age_minutes; an older build ignores the variable), unless
# CXPULSE_TICKETS_MAX_AGE_MINUTES is set (1440: read as history, a backfill)
echo '{"kafka": {"properties": {"fetch.wait.max.ms": "10"}}}' >"$work/cxpulse.json"
CXPULSE_TICKETS_MAX_AGE_MINUTES=${CXPULSE_TICKETS_MAX_AGE_MINUTES:-0} /usr/bin/time -f '%M' -o "$work/rss" $bin run \
    --config "$work/cxpulse.json" --brokers "$brokers" --topic cx.events --group bench --pg "$url" --http off \
    --log-level warn &
run_pid=$!
# cxpulse's own CPU so far (utime + stime, fields 14 and 15 of /proc/PID/stat),
# also from its first stored batch on (start-up and group join excluded)
$tool wait "$url" bench 1
tf=$(now)
cx_pid=$(pgrep -P "$run_pid" | head -1)
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
cpu0=$(cpu_of "$cx_pid")
n0=$(psqlq "SELECT coalesce(sum(next_offset), 0) FROM cx.consumer_offsets WHERE consumer_group = 'bench'")
$tool wait "$url" bench "$N"
t1=$(now)
own_cpu=$(cpu_of "$cx_pid")
run_rate=$(echo "$N / ($t1 - $t0)" | bc)
steady_rate=n/a
[ "$n0" -lt "$N" ] && steady_rate=$(echo "($N - $n0) / ($t1 - $tf)" | bc)
run_pg=$(us_per "$c0" "$(pg_cpu)" "$N")
stored=$(psqlq "SELECT count(*) FROM cx.events")
own_us() { echo "scale=1; $own_cpu * 1000000 / $N" | bc; }
# bytes per event stored: WAL since the run began, cx.events (table, TOAST,
# indexes), the whole cx schema
read -r wal_b ev_b ix_b cx_b < <(psqlq "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0') / $N),
    round(pg_total_relation_size('cx.events')::numeric / $N), round(pg_indexes_size('cx.events')::numeric / $N),
    round((SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
           WHERE s.nspname = 'cx' AND c.relkind IN ('r', 'm')) / $N)" | tr '|' ' ')
disk_line="PostgreSQL per event     : WAL $wal_b B, cx.events $ev_b B (indexes $ix_b B of it), whole cx schema $cx_b B"
steady=n/a
[ "$n0" -lt "$N" ] && steady="$(echo "scale=1; ($own_cpu - $cpu0) * 1000000 / ($N - $n0)" | bc) us"
if [ -n "${INGEST_ONLY:-}" ]; then
    pkill -TERM -P "$run_pid"; wait "$run_pid" || true; run_pid=
    echo
    echo "events: $N ($PARTS partitions, event time ${gen_mode:-in order}), stored: $stored, by $bin"
    echo "cxpulse end to end       : $run_rate events/s, after the first batch $steady_rate events/s"
    echo "own CPU per event        : cxpulse $(own_us) us ($steady after the first stored batch)"
    echo "cxpulse peak RSS         : $(($(cat "$work/rss") / 1024)) MB"
    echo "$disk_line"
    echo "PostgreSQL CPU per event : cxpulse run $run_pg us"
    exit 0
fi
# cxpulse's final rows of the N events, for the plain COPY baseline (the
# latency phase and reclassify below add and change rows)
psqlq "COPY (SELECT * FROM cx.events WHERE event_id LIKE 'bulk-%') TO STDOUT" >"$work/events.copy"
psqlq "COPY cx.signals TO STDOUT" >"$work/signals.copy"
ticket_cols="rule, category, scope, owner, status, opened_at, updated_at, resolved_at, reason, event_count, sample_event_ids"
psqlq "COPY (SELECT $ticket_cols FROM cx.tickets) TO STDOUT" >"$work/tickets.copy"
n_signals=$(wc -l <"$work/signals.copy")
n_tickets=$(wc -l <"$work/tickets.copy")

echo "latency at 5000 events/s for 20 s ..."
$tool paced "$brokers" cx.events 5000 20 $mode
want=$((N + 100000))
$tool wait "$url" bench "$want"
lat=$(psqlq "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 1) || ' ' ||
                    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 1) || ' ' || count(*)
             FROM (SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000
                          - (payload->'attributes'->>'sent_us')::bigint / 1000.0 AS d
                   FROM cx.events WHERE event_id LIKE 'paced-%') x")
pkill -TERM -P "$run_pid"; wait "$run_pid" || true; run_pid=   # TERM cxpulse, not time(1)
rss_kb=$(cat "$work/rss")

echo "reclassify with only the rule version changed ..."
# the same rules and the same (built-in) model as ingest, under another version:
# named rule files alone would classify without the model, a cheaper job
mkdir "$work/rules"
rules=(--model config/model/default.cxm)
for f in config/rules/*.json; do
    sed 's/"version": *"[^"]*"/"version": "bench.2"/' "$f" >"$work/rules/${f##*/}"
    rules+=(--rules "$work/rules/${f##*/}")
done
sleep 1   # the service's backends are gone (reaped, counted before c0)
c0=$(pg_cpu)
t0=$(now)
$bin reclassify --pg "$url" "${rules[@]}" --log-level warn
t1=$(now)
re_n=$(psqlq "SELECT count(*) FROM cx.events")
re_rate=$(echo "$re_n / ($t1 - $t0)" | bc)
sleep 1   # its backend's CPU is counted once the postmaster has reaped it
re_pg=$(us_per "$c0" "$(pg_cpu)" "$re_n")

echo "plain COPY of the same rows ..."
# (tickets: their trigger writes the outbox rows, as in the run)
psqlq "TRUNCATE cx.events, cx.signals, cx.tickets, cx.notifications; CHECKPOINT"
c0=$(pg_cpu)
t0=$(now)
psql -qX "$url" -c "BEGIN" -c "\\copy cx.events FROM '$work/events.copy'" \
    -c "\\copy cx.signals FROM '$work/signals.copy'" \
    -c "\\copy cx.tickets ($ticket_cols) FROM '$work/tickets.copy'" -c "COMMIT"
t1=$(now)
copy_rate=$(echo "$N / ($t1 - $t0)" | bc)
sleep 1
copy_pg=$(us_per "$c0" "$(pg_cpu)" "$N")

read -r p50 p99 nlat <<<"$lat"
echo
echo "events: $N ($(( $(stat -c %s "$work/events.jsonl") / N )) bytes each, $PARTS partitions, event time ${gen_mode:-in order}), stored: $stored"
echo "kcat -C to /dev/null     : $kcat_rate events/s"
echo "plain COPY (final rows)  : $copy_rate events/s (one transaction: $N events, $n_signals signal rows, $n_tickets tickets)"
echo "cxpulse end to end       : $run_rate events/s  ($(echo "scale=2; $run_rate / $copy_rate" | bc) of plain COPY)"
[ "$steady_rate" = n/a ] ||
    echo "  after the first batch  : $steady_rate events/s  ($(echo "scale=2; $steady_rate / $copy_rate" | bc) of plain COPY; group join excluded)"
kcat_cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$work/kcat.cpu")
echo "own CPU per event        : cxpulse $(own_us) us ($own_cpu s for $N;"\
     "$steady after the first stored batch), kcat -C $(echo "scale=1; $kcat_cpu * 1000000 / $N" | bc) us ($kcat_cpu s)"
echo "cxpulse peak RSS         : $((rss_kb / 1024)) MB"
echo "PostgreSQL CPU per event : cxpulse run $run_pg us, plain COPY $copy_pg us"
echo "$disk_line"
re_vs="$(echo "scale=2; $re_rate / $run_rate" | bc) of ingest"
[ "$steady_rate" = n/a ] || re_vs="$re_vs, $(echo "scale=2; $re_rate / $steady_rate" | bc) of ingest after its first batch"
echo "reclassify (version only): $re_rate events/s, PostgreSQL CPU $re_pg us/event ($re_vs)"
echo "produce -> stored at 5000/s: p50 ${p50} ms, p99 ${p99} ms over $nlat events"
