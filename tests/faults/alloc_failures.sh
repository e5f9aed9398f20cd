#!/usr/bin/env bash
# alloc_failures.sh - makes each allocation of `cxpulse classify` fail in
# turn (every one while the events are read and classified, a sample while
# the rules and model load) and checks that none becomes a wrong answer: a
# run either prints exactly what a run without failures prints, or fails
# loudly (exit status 1 or 2 with a message, "out of memory" among them), never
# killed by a signal. A message
# must never be called bad, nor an output cut short, for want of memory.
#
# usage: tests/faults/alloc_failures.sh CXPULSE   (a build without sanitizers,
#        which replace malloc themselves; scripts/test.sh passes the release one)
set -euo pipefail
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O1 -shared -fPIC -o "$work/failmalloc.so" "$root/tests/faults/failmalloc.c"
cp "$root/config/sample/events.jsonl" "$work/events.jsonl"
cd "$work"
"$bin" classify events.jsonl >want.out 2>/dev/null
count() { # the allocations of classifying $1
    CX_FAIL_COUNT=1 LD_PRELOAD="$work/failmalloc.so" "$bin" classify "$1" 2>&1 >/dev/null |
        tail -n 1
}
: >none.jsonl
total=$(count events.jsonl) start=$(count none.jsonl)
[ "$total" -gt "$((start + 5))" ] ||
    { echo "alloc_failures: $total allocations, $start without events" >&2; exit 1; }
tail_from=$((start > 50 ? start - 50 : 1)) # reading and classifying the events: each one
stride=$((tail_from / 400 + 1))            # loading rules and model: a sample
runs=0 bad=0 loud=0
for ((i = 1; i <= total + 5; i += (i < tail_from ? stride : 1))); do
    runs=$((runs + 1))
    rc=$( (CX_FAIL_AT=$i LD_PRELOAD="$work/failmalloc.so" timeout 60 "$bin" classify \
        events.jsonl >got.out 2>got.err; echo $?) 2>/dev/null) # no "Aborted" from the shell
    if [ $rc -eq 0 ]; then
        cmp -s got.out want.out && continue
        why="exit 0 with other output: $({ diff got.out want.out || true; } | head -n 3 | tr '\n' ' ')"
    elif [ $rc -eq 124 ]; then
        why="still running after 60 s"
    elif [ $rc -gt 128 ]; then
        why="killed by signal $((rc - 128)): $(tail -c 300 got.err | tr '\n' ' ')"
    else
        loud=$((loud + 1))
        continue
    fi
    bad=$((bad + 1))
    echo "alloc_failures: allocation $i of $total failing: $why" >&2
done
echo "alloc_failures: $runs runs of $total allocations: $((runs - loud - bad)) answered in full," \
    "$loud failed loudly, $bad wrong"
[ "$bad" -eq 0 ]
