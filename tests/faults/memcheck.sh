#!/usr/bin/env bash
# memcheck.sh - runs cxpulse under valgrind's memcheck, which finds what
# AddressSanitizer does not look for: a read of memory never written. Fails
# on any such read, any invalid read or write, or any block lost for good.
#   1. `cxpulse classify` over the sample events, the bad messages of the fuzz
#      corpus and messages made to take the parser's slow paths (values over
#      its memory budget, nesting too deep, a number too long, a text of
#      200 KB);
#   2. `cxpulse demo`: the whole service (an in-process mock Kafka cluster,
#      the consumer, the classifier, the PostgreSQL sink, signals, tickets,
#      dead letters) over the sample data, against a throwaway PostgreSQL.
# About 15 s.
#
# usage: tests/faults/memcheck.sh CXPULSE   (a build without sanitizers;
#        scripts/test.sh passes the release one)
set -euo pipefail
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/faults/messages.sh"
work=$(mktemp -d)
state="$work/pg.state"
trap '[ -f "$state" ] && "$root/deploy/local/pg-stop.sh" --state "$state"; rm -rf "$work"' EXIT
memcheck() { # memcheck NAME ARGS...: runs cxpulse ARGS under memcheck, output in $work/NAME.*
    local name=$1
    shift
    if ! valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --log-file="$work/$name.valgrind" "$bin" "$@" >"$work/$name.out" 2>"$work/$name.err" ||
        [ -s "$work/$name.valgrind" ]; then
        cat "$work/$name.valgrind" "$work/$name.err" >&2
        echo "memcheck: cxpulse $1 failed or memcheck found errors (above)" >&2
        exit 1
    fi
}
in="$work/in.jsonl"
write_messages "$in"
head='{"event_id":"v1","occurred_at":"2026-01-01T00:00:00Z","text":"ok"'
{
    # bad (a number for a channel), and what the checks would hold of its
    # values is over the 32 MiB budget
    printf '%s,"channel":5,"junk":[{}' "$head"
    for ((i = 0; i < 17; i++)); do printf '%s' "$(printf ',{}%.0s' {1..20000})"; done
    printf ']}\n'
    printf '%s,"deep":%s1%s}\n' "$head" "$(printf '[%.0s' {1..300})" "$(printf ']%.0s' {1..300})"
    printf '%s,"n":1%s}\n' "$head" "$(printf '0%.0s' {1..400})"
    printf '{"event_id":"v2","occurred_at":"2026-01-01T00:00:00Z","text":"%s"}\n' \
        "$(printf 'the parcel never came %.0s' {1..9000})"
    printf '%s,"attributes":{%s"last":1}}\n' "$head" "$(printf '"k%d":[1,{"a":2}],' {1..3000})"
} >>"$in"

lines=$(wc -l <"$in")
memcheck classify classify "$in"
out=$(wc -l <"$work/classify.out")
[ "$out" -eq "$lines" ] || { echo "memcheck: classify: $lines lines in, $out out" >&2; exit 1; }
bad=$(grep -c '"error"' "$work/classify.out" || true) # (grep -c exits 1 on none)
echo "memcheck: classify: $lines messages ($bad refused): no errors"

url=$("$root/deploy/local/pg-start.sh" --state "$state")
memcheck demo demo --pg "$url" --http 127.0.0.1:0
grep -h '^- handled' "$work/demo.out" | sed 's/^- /memcheck: demo: /; s/$/: no errors/'
