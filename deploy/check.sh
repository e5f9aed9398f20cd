#!/usr/bin/env bash
# Validates what can be validated of deploy/ without Docker, a cluster or
# Grafana: every YAML file parses (PyYAML), every JSON file parses, the
# manifests and provisioning files agree with each other, the alert rules and
# the dashboards' Prometheus queries name only metrics cxpulse serves and
# parse (`promtool check rules`), the alert rules pass their tests (`promtool
# test rules`), compose's Prometheus configuration passes `promtool check
# config`, the systemd unit passes `systemd-analyze
# verify`, and the compose file passes `docker compose config` when a compose
# client is installed. With a cxpulse binary, the
# ConfigMap's configuration also passes `cxpulse config --check`.
# A check whose tool is missing is skipped with a message, not failed.
#
# usage: deploy/check.sh [CXPULSE_BINARY]
# Exit status: 0 when nothing failed, 1 otherwise.
set -euo pipefail

bin=
if [ $# -gt 0 ]; then
    bin=$(realpath "$1")
    [ -x "$bin" ] || { echo "check.sh: $1 is not an executable" >&2; exit 2; }
fi
cd "$(dirname "$0")"

passed=0 failed=0 skipped=0
ok()   { echo "ok    $*"; passed=$((passed + 1)); }
bad()  { echo "FAIL  $*"; failed=$((failed + 1)); }
skip() { echo "skip  $*"; skipped=$((skipped + 1)); }
detail() { local line; while IFS= read -r line; do echo "      $line"; done <<<"$1"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every file of deploy/ except local/ (the test suite's PostgreSQL scripts).
mapfile -t yaml_files < <(find . -path ./local -prune -o -type f \( -name '*.yaml' -o -name '*.yml' \) -print | sort)
mapfile -t json_files < <(find . -path ./local -prune -o -type f -name '*.json' -print | sort)

# --- YAML: every document of every file parses ---------------------------
have_yaml=0
if python3 -c 'import yaml' 2>/dev/null; then
    have_yaml=1
    for f in "${yaml_files[@]}"; do
        if out=$(python3 -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' "$f" 2>&1); then
            ok "yaml parses: $f"
        else
            bad "yaml parses: $f"; detail "$out"
        fi
    done
else
    skip "yaml: python3 cannot import yaml (apt-get install python3-yaml)"
fi

# --- JSON: every file parses ----------------------------------------------
for f in "${json_files[@]}"; do
    if out=$(python3 -m json.tool "$f" 2>&1 >/dev/null); then
        ok "json parses: $f"
    else
        bad "json parses: $f"; detail "$out"
    fi
done

# --- Consistency between the files (needs PyYAML) --------------------------
if [ "$have_yaml" = 1 ]; then
    if out=$(PROMQL_RULES=$tmp/dashboard-queries.yaml python3 - <<'EOF' 2>&1
import json, os, yaml

problems = []

# Kubernetes manifests: kind, apiVersion and a name; the Deployment and the
# Service agree on the port; the ConfigMap listens where the probes look.
docs = {}
for name in sorted(os.listdir("k8s")):
    for d in yaml.safe_load_all(open(os.path.join("k8s", name))):
        for key in ("apiVersion", "kind"):
            if not d.get(key):
                problems.append(f"k8s/{name}: no {key}")
        if not (d.get("metadata") or {}).get("name"):
            problems.append(f"k8s/{name}: no metadata.name")
        docs[d.get("kind")] = d
for kind in ("ConfigMap", "Deployment", "Service", "Job"):
    if kind not in docs:
        problems.append(f"k8s/: no {kind}")
if not problems:
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    svc_ports = docs["Service"]["spec"]["ports"]
    if not any(p.get("name") == "metrics" and p.get("port") == 9464 for p in svc_ports):
        problems.append("k8s/service.yaml: no port 9464 named metrics")
    for p in svc_ports:
        if p.get("targetPort") not in ports and p.get("targetPort") not in ports.values():
            problems.append(f"k8s/service.yaml: targetPort {p.get('targetPort')} is no container port")
    if not docs["Service"]["spec"]["selector"].items() <= docs["Deployment"]["spec"]["template"]["metadata"]["labels"].items():
        problems.append("k8s/service.yaml: selector does not match the Deployment's pods")
    for probe in ("livenessProbe", "readinessProbe"):
        port = c[probe]["httpGet"]["port"]
        if port not in ports and port not in ports.values():
            problems.append(f"k8s/deployment.yaml: {probe} port {port} is no container port")
    # Where the pod listens: its CXPULSE_HTTP, else the image's, which both
    # override http.listen in the ConfigMap (a value there would do nothing).
    # An empty value is unset, as cxpulse reads it; one taken from a Secret or
    # another ConfigMap (valueFrom) cannot be read here, so is not checked.
    cfg = json.loads(docs["ConfigMap"]["data"]["cxpulse.json"])
    image_env = [l.split("=", 1)[1].strip() for l in open("docker/Dockerfile")
                 if l.startswith("ENV CXPULSE_HTTP=")]
    pod_http = [e for e in c.get("env", []) if e["name"] == "CXPULSE_HTTP"]
    pod_env = [(e.get("value") or "").strip() for e in pod_http if "valueFrom" not in e]
    env = [v for v in pod_env + image_env if v]
    if env and "listen" in cfg.get("http", {}):
        problems.append("k8s/configmap.yaml: http.listen is overridden by CXPULSE_HTTP; set that instead")
    if not any("valueFrom" in e for e in pod_http):
        listen = (env or [cfg.get("http", {}).get("listen", "127.0.0.1:9464")])[0]
        if not listen.startswith("0.0.0.0:"):
            problems.append(f"k8s: the pod listens on {listen}, not every interface")
        listen_port = int(listen.rsplit(":", 1)[1])
        if listen_port not in ports.values():
            problems.append(f"k8s: the pod listens on port {listen_port}, not the container port")
    if "url" in cfg.get("postgres", {}):
        problems.append("k8s/configmap.yaml: postgres.url belongs in the Secret, not the ConfigMap")

# Grafana: every panel of every dashboard has a query on a provisioned datasource.
ds = yaml.safe_load(open("grafana/provisioning/datasources/cxpulse.yaml"))["datasources"]
uids = {d["uid"]: d["type"] for d in ds}
dashboards = sorted(f for f in os.listdir("grafana") if f.endswith(".json"))
promql = []  # (where, expression) of the Prometheus queries
for name in dashboards:
    dash = json.load(open(os.path.join("grafana", name)))
    if dash.get("schemaVersion") != 39:
        problems.append(f"grafana/{name}: schemaVersion is not 39")
    for p in dash["panels"]:
        if p.get("type") == "row":
            continue
        for d in [p.get("datasource")] + [t.get("datasource") for t in p.get("targets", [])]:
            if d and uids.get(d.get("uid")) != d.get("type"):
                problems.append(f"grafana/{name} panel {p['title']!r}: datasource {d} is not provisioned")
        if not p.get("targets"):
            problems.append(f"grafana/{name} panel {p['title']!r}: no query")
        for t in p.get("targets", []):
            if (t.get("datasource") or {}).get("type") == "prometheus":
                promql.append((f"grafana/{name} panel {p['title']!r}", t.get("expr", "")))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        if (v.get("datasource") or {}).get("type") == "prometheus" and isinstance(q, dict):
            # label_values(METRIC, LABEL): the metric must be served
            promql.append((f"grafana/{name} variable {v['name']!r}",
                           q["query"].replace("label_values(", "group by (job) (").replace(", job)", ")")))

# Compose: what it mounts and builds exists.
base = "compose"
compose = yaml.safe_load(open(os.path.join(base, "compose.yaml")))
for name, svc in compose["services"].items():
    b = svc.get("build")
    if b:
        ctx = os.path.normpath(os.path.join(base, b["context"]))
        if not os.path.isfile(os.path.join(ctx, b["dockerfile"])):
            problems.append(f"compose service {name}: no {b['dockerfile']} in {ctx}")
    for v in svc.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith((".", "/")) and not os.path.exists(os.path.join(base, src)):
            problems.append(f"compose service {name}: mounts missing {src}")

# Grafana in compose: the dashboard lands where the provider looks, and the
# datasource names the compose PostgreSQL.
grafana = compose["services"].get("grafana", {})
provider = yaml.safe_load(open("grafana/provisioning/dashboards/cxpulse.yaml"))["providers"][0]
for name in dashboards:
    mounted = [v.split(":")[1] for v in grafana.get("volumes", []) if f"/{name}:" in v]
    if not mounted or os.path.dirname(mounted[0]) != provider["options"]["path"]:
        problems.append(f"compose grafana: {name} is not mounted in the provider's path")
for d in ds:
    host = d["url"].split("://")[-1].split(":")[0]
    if host not in compose["services"]:
        problems.append(f"datasource url {d['url']} is no compose service")

# Prometheus in compose: it reads prometheus.yml and the alert rules, and
# scrapes every cxpulse replica where it serves /metrics.
prom = compose["services"].get("prometheus", {})
for f in ("prometheus.yml", "cxpulse-alerts.yaml"):
    if not any(v.startswith(f"../prometheus/{f}:/etc/prometheus/{f}") for v in prom.get("volumes", [])):
        problems.append(f"compose prometheus: prometheus/{f} is not mounted in /etc/prometheus")
scrape = yaml.safe_load(open("prometheus/prometheus.yml"))
targets = {t for j in scrape["scrape_configs"] for c in j.get("static_configs", []) for t in c["targets"]}
replicas = set()
for n, svc in compose["services"].items():
    cmd = svc.get("command") or []
    if cmd[:1] == ["run"] and "--http" in cmd:
        replicas.add(f"{n}:{cmd[cmd.index('--http') + 1].rsplit(':', 1)[1]}")
if targets != replicas:
    problems.append(f"prometheus/prometheus.yml scrapes {sorted(targets)}, compose runs {sorted(replicas)}")

# Prometheus rules: each alert is complete, and names only metrics cxpulse
# serves (the rows of docs/metrics.md).
import re
served = set(re.findall(r"^\| `((?:cxpulse|process)_[a-z_]+)`", open("../docs/metrics.md").read(), re.M))
rules = yaml.safe_load(open("prometheus/cxpulse-alerts.yaml"))
for g in rules["groups"]:
    for r in g["rules"]:
        name = r.get("alert", "?")
        for key in ("alert", "expr"):
            if not r.get(key):
                problems.append(f"prometheus rule {name}: no {key}")
        if not (r.get("labels") or {}).get("severity") or not (r.get("annotations") or {}).get("summary"):
            problems.append(f"prometheus rule {name}: no severity label or summary")
        promql.append((f"prometheus rule {name}", str(r.get("expr", ""))))
for where, expr in promql:
    for m in re.findall(r"\b((?:cxpulse|process)_[a-z_]+)", expr):
        base = re.sub(r"_(bucket|sum|count)$", "", m)
        if m not in served and base not in served:
            problems.append(f"{where}: {m} is not a metric of docs/metrics.md")

# The dashboards' queries, with Grafana's variables given values, as
# recording rules for promtool to parse (below).
with open(os.environ["PROMQL_RULES"], "w") as f:
    rules_out = [{"record": f"dashboard:query:{i}",
                  "expr": e.replace("$__rate_interval", "5m").replace("$job", ".+")}
                 for i, (w, e) in enumerate(promql) if w.startswith("grafana/")]
    yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules_out}]}, f)

for p in problems:
    print(p)
raise SystemExit(1 if problems else 0)
EOF
    ); then
        ok "consistency: k8s ports, probes and selector; dashboards' datasources; compose paths, Grafana mounts and Prometheus targets; alert rules' and dashboards' metrics"
    else
        bad "consistency"; detail "$out"
    fi
else
    skip "consistency: needs python3-yaml"
fi

# --- Prometheus rules --------------------------------------------------------
if command -v promtool >/dev/null; then
    if out=$(promtool check rules prometheus/cxpulse-alerts.yaml 2>&1); then
        ok "promtool check rules: prometheus/cxpulse-alerts.yaml"
    else
        bad "promtool check rules: prometheus/cxpulse-alerts.yaml"; detail "$out"
    fi
    if out=$(cd prometheus && promtool test rules cxpulse-alerts.test.yaml 2>&1); then
        ok "promtool test rules: prometheus/cxpulse-alerts.test.yaml"
    else
        bad "promtool test rules: prometheus/cxpulse-alerts.test.yaml"; detail "$out"
    fi
    if out=$(promtool check config prometheus/prometheus.yml 2>&1); then
        ok "promtool check config: prometheus/prometheus.yml"
    else
        bad "promtool check config: prometheus/prometheus.yml"; detail "$out"
    fi
    if [ ! -s "$tmp/dashboard-queries.yaml" ]; then
        skip "promtool: the dashboards' queries (needs python3-yaml to collect them)"
    elif out=$(promtool check rules "$tmp/dashboard-queries.yaml" 2>&1); then
        ok "promtool parses the dashboards' Prometheus queries"
    else
        bad "promtool parses the dashboards' Prometheus queries"; detail "$out"
    fi
else
    skip "promtool: not installed (apt-get install prometheus)"
fi

# --- systemd unit ------------------------------------------------------------
# verify checks that ExecStart's binary exists: point a copy of the unit at a
# stand-in (the given binary, or an empty script) instead of /usr/local/bin.
if command -v systemd-analyze >/dev/null; then
    if [ -n "$bin" ]; then cp "$bin" "$tmp/cxpulse"; else printf '#!/bin/sh\n' >"$tmp/cxpulse"; fi
    chmod +x "$tmp/cxpulse"
    sed "s|/usr/local/bin/cxpulse|$tmp/cxpulse|g" systemd/cxpulse.service >"$tmp/cxpulse.service"
    if out=$(systemd-analyze verify "$tmp/cxpulse.service" 2>&1) && [ -z "$out" ]; then
        ok "systemd-analyze verify: systemd/cxpulse.service"
    else
        bad "systemd-analyze verify: systemd/cxpulse.service"; detail "$out"
    fi
else
    skip "systemd: systemd-analyze not installed (apt-get install systemd)"
fi

# --- compose file ------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
    if out=$(docker compose -f compose/compose.yaml config -q 2>&1); then
        ok "docker compose config: compose/compose.yaml"
    else
        bad "docker compose config: compose/compose.yaml"; detail "$out"
    fi
elif command -v docker-compose >/dev/null; then
    # Compose v1 predates the top-level "name:" key; check the rest.
    if out=$(grep -v '^name:' compose/compose.yaml |
        docker-compose --project-directory compose -f - config -q 2>&1); then
        ok "docker-compose (v1) config: compose/compose.yaml, top-level name aside"
    else
        bad "docker-compose (v1) config: compose/compose.yaml"; detail "$out"
    fi
else
    skip "compose: no docker compose or docker-compose client installed"
fi

# --- the ConfigMap's configuration, checked by cxpulse itself -------------------
if [ -n "$bin" ] && [ "$have_yaml" = 1 ]; then
    python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["cxpulse.json"])' \
        k8s/configmap.yaml >"$tmp/cxpulse.json"
    # The URL comes from the Secret at run time; any URL does for the check.
    if out=$(CXPULSE_PG_URL=postgresql://cxpulse@db/cx "$bin" config --check --config "$tmp/cxpulse.json" 2>&1); then
        ok "cxpulse config --check: k8s/configmap.yaml"
    else
        bad "cxpulse config --check: k8s/configmap.yaml"; detail "$out"
    fi
elif [ -n "$bin" ]; then
    skip "cxpulse config --check: needs python3-yaml to extract the configuration"
else
    skip "cxpulse config --check: no binary given (deploy/check.sh build/app/cxpulse)"
fi

echo "check.sh: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
