#!/usr/bin/env bash
# Before and after: cxpulse built at another commit (REV) against this tree,
# on the same events, interleaved in one sitting (a machine's speed can drift
# by 10-20% over minutes, so a figure from another day is no baseline).
# Each round runs bench/e2e/run.sh twice on a fresh server: with REV's binary
# (INGEST_ONLY: REV's own schema, so no plain-COPY phase) and with this tree's.
# Prints cxpulse's own CPU and PostgreSQL's CPU per event, and peak RSS, for
# both, per round and the after/before ratios, and this tree's end-to-end rate
# over a plain COPY (from the first stored batch on); the full output of each
# run is kept in the folder it names.
# usage: [SCATTER=1|random] [PARTS=8] [ROUNDS=3] bench/e2e/compare.sh REV [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
rev=$1
N=${2:-200000}
export PARTS=${PARTS:-8}
rounds=${ROUNDS:-3}
old=$(mktemp -d "${TMPDIR:-/tmp}/cxpulse-before.XXXXXX")
out=$(mktemp -d "${TMPDIR:-/tmp}/cxpulse-compare.XXXXXX")
cleanup() {
    git worktree remove --force "$old/src" 2>/dev/null || true
    rm -rf "$old"
}
trap cleanup EXIT
git worktree add --detach "$old/src" "$rev" >/dev/null 2>&1
# (a commit that reads the sentiment lexicons from a folder finds this tree's)
cmake -S "$old/src" -B "$old/build" -DCMAKE_BUILD_TYPE=Release -DCX_TESTS=OFF \
    -DCX_LEXICON_DIR="$PWD/third_party/lexicons" >/dev/null 2>&1
cmake --build "$old/build" -j2 --target cxpulse >/dev/null
field() { sed -n "s/^$1 *: *cxpulse[a-z ]* \([0-9.]*\) .*/\1/p" "$2"; }
rss() { sed -n 's/^cxpulse peak RSS *: \([0-9]*\) MB/\1/p' "$1"; }
ratio() { echo "scale=2; $1 / $2" | bc; }
echo "rev $rev ($(git rev-parse --short "$rev")) against this tree, $N events, $PARTS partitions," \
    "event time ${SCATTER:-in order}, $rounds rounds; runs kept in $out"
fmt='%-5s | %7s %7s %6s | %7s %7s %6s | %6s %6s | %s\n'
printf "$fmt" round "own us" "" "" "PG us" "" "" "RSS MB" "" "after: end to end"
printf "$fmt" "" before after ratio before after ratio before after "/ plain COPY"
for r in $(seq "$rounds"); do
    CXPULSE_BIN="$old/build/app/cxpulse" INGEST_ONLY=1 bench/e2e/run.sh "$N" >"$out/before-$r.txt" 2>&1
    bench/e2e/run.sh "$N" >"$out/after-$r.txt" 2>&1
    b=$out/before-$r.txt a=$out/after-$r.txt
    ob=$(field "own CPU per event" "$b") oa=$(field "own CPU per event" "$a")
    pb=$(field "PostgreSQL CPU per event" "$b") pa=$(field "PostgreSQL CPU per event" "$a")
    printf "$fmt" "$r" "$ob" "$oa" "$(ratio "$oa" "$ob")" "$pb" "$pa" "$(ratio "$pa" "$pb")" \
        "$(rss "$b")" "$(rss "$a")" \
        "$(sed -n 's/^ *after the first batch.*(\([.0-9]*\) of plain COPY.*/\1/p' "$a")"
done
