#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs packages, builds with
# -Wall -Wextra -Werror and AddressSanitizer + UndefinedBehaviorSanitizer,
# runs every test through ctest (unit tests, and integration tests against a
# throwaway PostgreSQL and librdkafka's mock Kafka cluster), makes each
# allocation of `cxpulse classify` fail in turn, runs it and `cxpulse demo`
# under valgrind's memcheck, runs it on two threads under ThreadSanitizer,
# then runs the fuzzers of the
# event parser and of the rule and model file loaders for a short bounded
# time each.
#
# usage: scripts/test.sh [--no-fuzz]    (FUZZ_SECONDS=40 per fuzzer by default)
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz=1
[ "${1:-}" = --no-fuzz ] && fuzz=0

scripts/setup.sh

# Appended, so a caller's own options cannot turn these off (the later wins):
# a leak found when a test's worker exits fails the test only through an
# abort, and the canary tests (tests/support/canary.c) fail the suite if not.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1

# Optimised builds see more (-Wmaybe-uninitialized): the demo's build must stay warning-free.
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCX_TESTS=OFF -DCX_WERROR=ON >/dev/null
cmake --build build-release -j2

cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DCX_SANITIZE=ON -DCX_WERROR=ON >/dev/null
cmake --build build-test -j2
# A failing test's assertions are said again at the end, where a log cut
# short in the middle still shows them.
if ! (cd build-test && ctest --output-on-failure -j2); then
    # (the sanitizer canaries fail on purpose: left out)
    echo "failed assertions (all of them: build-test/Testing/Temporary/LastTest.log):"
    awk '/^[0-9]+\/[0-9]+ Testing: / { test = $3; next }
         test !~ /^canary_/ && /^\[(----|FAIL)\]|ERROR: (Address|Leak)Sanitizer|runtime error:/ {
             print test ": " $0 }' build-test/Testing/Temporary/LastTest.log | tail -n 60
    exit 1
fi

# Each allocation failing in turn never becomes a wrong answer (the release
# build: the sanitizers replace malloc themselves). About 30 s.
bash tests/faults/alloc_failures.sh build-release/app/cxpulse
# Memory read before it was ever written, which AddressSanitizer does not
# look for: valgrind's memcheck over the release build, classifying and
# running the demo's whole pipeline. About 15 s.
bash tests/faults/memcheck.sh build-release/app/cxpulse
# Data races between the threads that share one classifier: `cxpulse
# classify` built with ThreadSanitizer, its output compared with the release
# build's. About 30 s with the build.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCX_TSAN=ON -DCX_WERROR=ON \
    -DCX_TESTS=OFF -DCX_BENCH=OFF >/dev/null
cmake --build build-tsan -j2 --target cxpulse
bash tests/faults/races.sh build-tsan/app/cxpulse build-release/app/cxpulse

if [ "$fuzz" = 1 ] && [ -f tests/fuzz/CMakeLists.txt ]; then
    # What comes from outside, each for FUZZ_SECONDS: messages from Kafka and
    # what the classifier reads of their text, and the rule files, model
    # files, ticket rules and configuration files users bring. New inputs that reach new code are kept in build-fuzz/corpus-*;
    # the seeds are the bad messages of tests/fuzz/corpus, the default rule
    # files, a small trained model, the default ticket rules and the example
    # configuration.
    CC=clang cmake -S . -B build-fuzz -DCX_FUZZ=ON -DCX_TESTS=ON -DCX_BENCH=OFF >/dev/null
    cmake --build build-fuzz -j2 --target fuzz_event_parse fuzz_rules_load fuzz_model_load \
        fuzz_ticket_rules fuzz_config_load fuzz_text_read
    mkdir -p build-fuzz/corpus-event build-fuzz/corpus-rules build-fuzz/corpus-model \
        build-fuzz/corpus-tickets build-fuzz/corpus-config build-fuzz/corpus-text \
        build-fuzz/seed-model build-fuzz/seed-tickets build-fuzz/seed-config
    head -n 16 tests/data/company/labeled.jsonl >build-fuzz/seed-model/labeled.jsonl
    build-release/app/cxpulse train build-fuzz/seed-model/labeled.jsonl \
        --out build-fuzz/seed-model/small.cxm >/dev/null
    rm build-fuzz/seed-model/labeled.jsonl
    build-release/app/cxpulse config --print | jq '.["tickets.rules"]' \
        >build-fuzz/seed-tickets/default.json
    cp config/cxpulse.example.json build-fuzz/seed-config/
    # Two at a time (two cores), each one's output in its log, shown in full
    # when it fails (and its last line, the count of runs, when it passes).
    run_fuzzer() {
        if build-fuzz/tests/fuzz/"$1" -max_total_time="${FUZZ_SECONDS:-40}" -timeout=5 \
            -rss_limit_mb=2048 "${@:2}" >build-fuzz/"$1".log 2>&1; then
            echo "$1: $(tail -n 1 build-fuzz/"$1".log)"
        else
            cat build-fuzz/"$1".log
            echo "$1: FAILED"
            return 1
        fi
    }
    both() { # waits for the two jobs, and fails when either did
        local a=0 b=0
        wait "$1" || a=$?
        wait "$2" || b=$?
        [ "$a" = 0 ] && [ "$b" = 0 ]
    }
    run_fuzzer fuzz_event_parse -max_len=65536 build-fuzz/corpus-event tests/fuzz/corpus/event &
    p=$!
    run_fuzzer fuzz_rules_load -max_len=65536 -dict=tests/fuzz/rules.dict \
        build-fuzz/corpus-rules config/rules &
    both $p $!
    run_fuzzer fuzz_model_load -max_len=131072 build-fuzz/corpus-model build-fuzz/seed-model &
    p=$!
    run_fuzzer fuzz_ticket_rules -max_len=16384 build-fuzz/corpus-tickets build-fuzz/seed-tickets &
    both $p $!
    run_fuzzer fuzz_config_load -max_len=16384 build-fuzz/corpus-config build-fuzz/seed-config &
    p=$!
    run_fuzzer fuzz_text_read -max_len=65536 -dict=tests/fuzz/text.dict build-fuzz/corpus-text &
    both $p $!
fi
