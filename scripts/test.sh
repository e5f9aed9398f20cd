#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs packages, builds with
# -Wall -Wextra -Werror and AddressSanitizer + UndefinedBehaviorSanitizer,
# runs every test through ctest (unit tests, and integration tests against a
# throwaway PostgreSQL and librdkafka's mock Kafka cluster), then runs the
# parser fuzzer for a short bounded time.
#
# usage: scripts/test.sh [--no-fuzz]    (FUZZ_SECONDS=60 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz=1
[ "${1:-}" = --no-fuzz ] && fuzz=0

scripts/setup.sh

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Optimised builds see more (-Wmaybe-uninitialized): the demo's build must stay warning-free.
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCX_TESTS=OFF -DCX_WERROR=ON >/dev/null
cmake --build build-release -j2

cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DCX_SANITIZE=ON -DCX_WERROR=ON >/dev/null
cmake --build build-test -j2
(cd build-test && ctest --output-on-failure -j2)

if [ "$fuzz" = 1 ] && [ -f tests/fuzz/CMakeLists.txt ]; then
    CC=clang cmake -S . -B build-fuzz -DCX_FUZZ=ON -DCX_TESTS=ON -DCX_BENCH=OFF >/dev/null
    cmake --build build-fuzz -j2 --target fuzz_event_parse
    mkdir -p build-fuzz/corpus
    build-fuzz/tests/fuzz/fuzz_event_parse -max_total_time="${FUZZ_SECONDS:-60}" \
        -max_len=65536 -timeout=5 -rss_limit_mb=1024 build-fuzz/corpus tests/fuzz/corpus/event
fi
