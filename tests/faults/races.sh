#!/usr/bin/env bash
# races.sh - runs `cxpulse classify`, built with ThreadSanitizer, over the
# sample events, the bad messages of the fuzz corpus and the labeled dev
# events (about 24,000, chat transcripts among them): its threads share one
# classifier (its rules, model, lexicons and the memos features.c fills as it
# goes), as the service's maker threads do. Fails on any data race or lock
# misuse ThreadSanitizer reports, and when the output differs from what the
# reference build prints for the same input.
#
# First a canary (tests/faults/race_canary.c, built with the same flags and
# run with the same options) must be reported, so that a sanitizer that
# stops seeing races fails this check instead of passing it.
#
# What it cannot cover: the service's own threads beside librdkafka's.
# Debian's librdkafka starts its threads with C11 thrd_create, which GCC 12's
# ThreadSanitizer does not intercept, and a ThreadSanitizer build of
# `cxpulse run` or `demo` crashes in the first allocation on such a thread.
# About 15 s.
#
# usage: tests/faults/races.sh CXPULSE_TSAN CXPULSE
#        (a build with -DCX_TSAN=ON, and one without sanitizers to compare
#        with; scripts/test.sh passes build-tsan's and the release one)
set -euo pipefail
bin=$(realpath "$1")
ref=$(realpath "$2")
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/faults/messages.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
# (address-space randomisation off: GCC 12's ThreadSanitizer refuses some of
# the layouts newer kernels choose)
tsan() { setarch "$(uname -m)" -R "$@"; }

threads=$(getconf _NPROCESSORS_ONLN)
if [ "$threads" -lt 2 ]; then
    echo "races: skipped: one CPU, so cxpulse classify runs on one thread"
    exit 0
fi

cc -fsanitize=thread -O1 -g -pthread -o "$work/race_canary" "$root/tests/faults/race_canary.c"
rc=0
tsan "$work/race_canary" >/dev/null 2>"$work/canary.err" || rc=$?
if [ "$rc" != 66 ] || ! grep -q "WARNING: ThreadSanitizer: data race" "$work/canary.err"; then
    cat "$work/canary.err" >&2
    echo "races: the canary's race went unreported (exit status $rc): ThreadSanitizer is not looking" >&2
    exit 1
fi

in="$work/in.jsonl"
write_messages "$in"
jq -c .event "$root/tests/data/corpus/dev.jsonl" "$root/tests/data/real/dev.jsonl" >>"$in"

# classify NAME CMD...: CMD classify "$in" into $work/NAME.out; a bad message
# is answered in the output and leaves the exit status 0, so any other
# status is a failure, told with what the run said
classify() {
    local name=$1 rc=0
    shift
    "$@" classify "$in" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    if grep -q "ThreadSanitizer" "$work/$name.err"; then
        { grep -v '^cxpulse classify: ' "$work/$name.err" || true; } | head -n 200 >&2
        echo "races: ThreadSanitizer reported on cxpulse classify (above)" >&2
        exit 1
    fi
    if [ "$rc" != 0 ]; then
        { grep -v '^cxpulse classify: .*line [0-9]' "$work/$name.err" || true; } | tail -n 20 >&2
        echo "races: cxpulse classify ($name) exited with $rc" >&2
        exit 1
    fi
}
classify want "$ref"
classify got tsan "$bin"
if ! cmp -s "$work/want.out" "$work/got.out"; then
    diff "$work/want.out" "$work/got.out" | head -n 20 >&2
    echo "races: the ThreadSanitizer build classified differently from the reference build" >&2
    exit 1
fi
lines=$(wc -l <"$in")
echo "races: classify on $((threads > 8 ? 8 : threads)) threads: $lines messages, no race reported, output identical"
