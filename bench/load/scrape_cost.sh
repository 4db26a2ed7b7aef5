#!/usr/bin/env bash
# What one Prometheus scrape costs the server: starts `sasmint serve` with metrics on, fetches
# /metrics SCRAPES times with curl and prints the server CPU time per scrape (utime + stime from
# /proc) and the size of one scrape. At a 15 s scrape interval, CPU per scrape / 15 s is the
# share of a core that metrics take however many tokens are minted.
#
#   bench/load/scrape_cost.sh [SCRAPES]     (default 500)
#
# Environment: BUILD_DIR (default build), DEVICES (identities, default 10000).
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${BUILD_DIR:-build}"
scrapes="${1:-500}"
tmp="$(mktemp -d)"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
"$build/bin/sasmint-gen-export" --count "${DEVICES:-10000}" --out "$tmp/devices.json"
"$build/bin/sasmint" serve --hub bench.azure-devices.net --devices "$tmp/devices.json" \
  --listen 127.0.0.1:0 --port-file "$tmp/port" --metrics-listen 127.0.0.1:0 2>"$tmp/server.log" &
server=$!
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
# The metrics port is in the "serving" log line: "... /metrics (port N)".
metrics_port=
for _ in $(seq 100); do
  metrics_port="$(grep -o '/metrics (port [0-9]*' "$tmp/server.log" | grep -o '[0-9]*$' || true)"
  [ -n "$metrics_port" ] && break; sleep 0.1
done
[ -n "$metrics_port" ] || { cat "$tmp/server.log" >&2; exit 1; }
url="http://127.0.0.1:$metrics_port/metrics"
curl -fsS "$url" >"$tmp/one"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
before="$(cpu_ticks)"
for _ in $(seq "$scrapes"); do curl -fsS -o /dev/null "$url"; done
after="$(cpu_ticks)"
awk -v b="$before" -v a="$after" -v hz="$(getconf CLK_TCK)" -v n="$scrapes" \
  -v bytes="$(wc -c <"$tmp/one")" -v series="$(grep -vc '^#' "$tmp/one")" 'BEGIN {
  ms = (a - b) * 1000 / hz / n
  printf "{\"scrapes\":%d,\"bytes_per_scrape\":%d,\"series\":%d,\"server_cpu_ms_per_scrape\":%.3f,\"core_share_at_15s\":%.6f}\n", n, bytes, series, ms, ms / 15000
}'
