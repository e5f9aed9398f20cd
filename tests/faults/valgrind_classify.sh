#!/usr/bin/env bash
# valgrind_classify.sh - runs `cxpulse classify` under valgrind's memcheck
# over the sample events, the bad messages of the fuzz corpus and messages
# made to take the parser's slow paths (values over its memory budget,
# nesting too deep, a number too long, a text of 200 KB). Fails on any read
# of memory never written (which AddressSanitizer does not look for), any
# invalid read or write, or any block lost for good. About 10 s.
#
# usage: tests/faults/valgrind_classify.sh CXPULSE   (a build without
#        sanitizers; scripts/test.sh passes the release one)
set -euo pipefail
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
in="$work/in.jsonl"

cp "$root/config/sample/events.jsonl" "$in"
for f in "$root"/tests/fuzz/corpus/event/*; do
    tr '\n' ' ' <"$f" >>"$in"
    echo >>"$in"
done
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
if ! valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --log-file="$work/valgrind.log" "$bin" classify "$in" >"$work/out.jsonl" 2>"$work/err"; then
    cat "$work/valgrind.log" "$work/err" >&2
    echo "valgrind_classify: memcheck found errors (above)" >&2
    exit 1
fi
[ -s "$work/valgrind.log" ] && { cat "$work/valgrind.log" >&2; exit 1; }
out=$(wc -l <"$work/out.jsonl")
[ "$out" -eq "$lines" ] ||
    { echo "valgrind_classify: $lines lines in, $out out" >&2; exit 1; }
grep -c '"error"' "$work/out.jsonl" | {
    read -r bad
    echo "valgrind_classify: $lines messages ($bad refused) read under memcheck: no errors"
}
