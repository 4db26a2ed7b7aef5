#!/usr/bin/env bash
# A real Prometheus (Debian's, on loopback, its own temporary storage) scrapes a real
# `sasmint serve` under a short sasmint-bench load. Checks, through Prometheus' HTTP API: the
# target is up; sasmint_tokens_minted_total{result="ok"} equals the tokens the load client
# counted; `promtool check metrics` finds nothing in the scraped text; the alert rules and their
# unit tests pass; every dashboard query parses and runs against this Prometheus.
#
#   tests/deploy/prometheus_test.sh [BUILD_DIR]      (needs prometheus, promtool, curl, python3)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
bin="$build/bin"
for tool in prometheus promtool curl python3; do
  command -v "$tool" >/dev/null || { echo "prometheus_test: $tool is not installed" >&2; exit 1; }
done
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "prometheus_test: FAIL: $*" >&2; echo "--- sasmint log" >&2; tail -20 "$tmp/serve.log" >&2 || true; echo "--- prometheus log" >&2; tail -20 "$tmp/prometheus.log" >&2 || true; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

hub=prom.azure-devices.net
"$bin/sasmint-gen-export" --count 1000 --out "$tmp/devices.json" >/dev/null
metrics_port="$(free_port)"
"$bin/sasmint" serve --hub "$hub" --devices "$tmp/devices.json" --listen 127.0.0.1:0 \
  --port-file "$tmp/port" --metrics-listen "127.0.0.1:$metrics_port" 2>"$tmp/serve.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || fail "sasmint serve did not start"
port="$(cat "$tmp/port")"

prom_port="$(free_port)"
cat > "$tmp/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["$root/k8s/monitoring/alerts.rules.yaml"]
scrape_configs:
  - job_name: sasmint
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
YAML
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "promtool check config"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
prom="http://127.0.0.1:$prom_port"
query() { curl -sf --get "$prom/api/v1/query" --data-urlencode "query=$1"; }
value() { query "$1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'; }
for _ in $(seq 100); do [ "$(value 'up{job="sasmint"}' 2>/dev/null)" = 1 ] && break; sleep 0.2; done
[ "$(value 'up{job="sasmint"}')" = 1 ] || fail "the sasmint target is not up in Prometheus"

# Warm-up 0: every token the server mints is one the client counts.
"$bin/sasmint-bench" --target "127.0.0.1:$port" --hub "$hub" --devices "$tmp/devices.json" \
  --mode batch:100 --concurrency 4 --duration 3 --warmup 0 --quiet >"$tmp/bench.json"
tokens="$(tail -1 "$tmp/bench.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"])')"
errors="$(tail -1 "$tmp/bench.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["errors"])')"
[ "$tokens" -gt 0 ] && [ "$errors" = 0 ] || fail "the load run minted $tokens tokens with $errors errors"
"$bin/sasmint" mint --server "127.0.0.1:$port" --hub "$hub" --device nobody >/dev/null 2>&1 || true

# Wait for a scrape that has seen everything.
want_ok="$tokens"
got=""
for _ in $(seq 50); do
  got="$(value 'sasmint_tokens_minted_total{job="sasmint",scope="device",result="ok"}')"
  nf="$(value 'sasmint_tokens_minted_total{job="sasmint",scope="device",result="not_found"}')"
  [ "$got" = "$want_ok" ] && [ "$nf" = 1 ] && break
  sleep 0.2
done
[ "$got" = "$want_ok" ] || fail "Prometheus has sasmint_tokens_minted_total{result=\"ok\"} $got, the client counted $want_ok"
[ "$nf" = 1 ] || fail "Prometheus has $nf not_found tokens, expected 1"
handled="$(value 'sum(grpc_server_handled_total{job="sasmint",grpc_method="MintTokens",grpc_code="OK"})')"
rpcs="$(tail -1 "$tmp/bench.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rpcs"])')"
[ "$handled" = "$rpcs" ] || fail "grpc_server_handled_total{MintTokens,OK} is $handled, the client sent $rpcs"
series="$(query 'count(grpc_server_handled_total{job="sasmint"})' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')"
[ "$series" = $((7 * 17)) ] || fail "expected every method x code series (119), Prometheus has $series"
[ "$(value 'sasmint_keystore_identities{job="sasmint",kind="device"}')" = 1000 ] || fail "identities"
[ "$(value 'sasmint_ready{job="sasmint"}')" = 1 ] || fail "sasmint_ready"
p99="$(value 'histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{job="sasmint",grpc_method="MintTokens"}[1m])))')"
python3 -c "import sys; v=float('$p99'); sys.exit(0 if 0 < v <= 1 else 1)" || fail "p99 handling time $p99"

curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$tmp/metrics.txt" || fail "GET /metrics"
lint="$(promtool check metrics <"$tmp/metrics.txt" 2>&1)" || fail "promtool check metrics: $lint"
[ -z "$lint" ] || fail "promtool check metrics: $lint"
# No key bytes: no line of the export's keys appears in the metrics text.
python3 - "$tmp/devices.json" "$tmp/metrics.txt" <<'PY' || fail "a key appears in the metrics"
import json, sys
text = open(sys.argv[2]).read()
for line in open(sys.argv[1]):
    keys = json.loads(line)["authentication"]["symmetricKey"]
    for k in (keys.get("primaryKey"), keys.get("secondaryKey")):
        if k and k in text: sys.exit(1)
PY
bash "$root/k8s/monitoring/check.sh" "$prom" || fail "k8s/monitoring/check.sh against $prom"
echo "prometheus_test: scraped by Prometheus: $tokens tokens counted by both, $rpcs calls, $series grpc_server_handled_total series, promtool clean, rules and dashboard queries ok"
