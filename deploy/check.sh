#!/usr/bin/env bash
# Validates what can be validated here of deploy/: every YAML and JSON file
# parses, and the systemd unit passes `systemd-analyze verify`. Docker builds,
# compose and Kubernetes are not exercised (see README.md in this folder).
# usage: deploy/check.sh [CXPULSE_BINARY]   (with a binary: the ConfigMap's
# configuration also passes `cxpulse config --check`)
set -euo pipefail
bin=${1:+$(realpath "$1")}
cd "$(dirname "$0")"
fail=0

if python3 -c 'import yaml' 2>/dev/null; then
    for f in $(find . -name '*.yaml' -o -name '*.yml'); do
        python3 -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' "$f" \
            && echo "yaml ok: $f" || { echo "yaml BAD: $f"; fail=1; }
    done
else
    echo "python3-yaml missing: YAML not checked (apt-get install python3-yaml)"; fail=1
fi

for f in $(find . -name '*.json'); do
    python3 -m json.tool "$f" >/dev/null && echo "json ok: $f" || { echo "json BAD: $f"; fail=1; }
done

if command -v systemd-analyze >/dev/null; then
    # verify wants the binary the unit names; a stand-in when it is not installed.
    tmp=$(mktemp -d)
    sed "s|/usr/local/bin/cxpulse|$tmp/cxpulse|g" systemd/cxpulse.service >"$tmp/cxpulse.service"
    printf '#!/bin/sh\n' >"$tmp/cxpulse" && chmod +x "$tmp/cxpulse"
    if out=$(systemd-analyze verify "$tmp/cxpulse.service" 2>&1) && [ -z "$out" ]; then
        echo "systemd ok: systemd/cxpulse.service"
    else
        echo "systemd-analyze verify systemd/cxpulse.service:"; echo "$out"; fail=1
    fi
    rm -rf "$tmp"
else
    echo "systemd-analyze missing: unit not checked (apt-get install systemd)"; fail=1
fi
if [ -n "$bin" ]; then
    tmp=$(mktemp)
    python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["cxpulse.json"])' \
        k8s/configmap.yaml >"$tmp"
    if CXPULSE_PG_URL=postgresql://x@db/cx "$bin" config --check --config "$tmp"; then
        echo "config ok: k8s/configmap.yaml"
    else
        fail=1
    fi
    rm -f "$tmp"
fi
exit $fail
