#!/usr/bin/env bash
# Measures the server's CPU time per token under sasmint-bench load (issue 4's targets): the
# server pinned to one core, the load client to another, server CPU read from /proc/<pid>/stat
# (utime + stime), not wall time.
#
#   bench/load/server_cpu.sh MODE CONCURRENCY SECONDS [more sasmint-bench flags]
#   e.g. bench/load/server_cpu.sh batch:1000 4 10
#        bench/load/server_cpu.sh unary 8 10 --rate 20000
#
# Environment: BUILD_DIR (default build), DEVICES (identities, default 100000), SERVER_CPU
# (default 0), CLIENT_CPU (default 1), SASMINT_ISA (passed to the server).
# Prints sasmint-bench's JSON line, then one JSON line with the server's CPU per token.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${BUILD_DIR:-build}"
mode="${1:?mode}"; concurrency="${2:?concurrency}"; seconds="${3:?seconds}"; shift 3
hub=bench.azure-devices.net
tmp="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$build/bin/sasmint-gen-export" --count "${DEVICES:-100000}" --out "$tmp/devices.json"
taskset -c "${SERVER_CPU:-0}" "$build/bin/sasmint" serve --hub "$hub" \
    --devices "$tmp/devices.json" --listen 127.0.0.1:0 --port-file "$tmp/port" 2>"$tmp/server.log" &
server=$!
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port="$(cat "$tmp/port")"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
before="$(cpu_ticks)"
result="$(taskset -c "${CLIENT_CPU:-1}" "$build/bin/sasmint-bench" --target "127.0.0.1:$port" \
    --hub "$hub" --devices "$tmp/devices.json" --mode "$mode" --concurrency "$concurrency" \
    --duration "$seconds" --warmup 0 --quiet "$@" | tail -n 1)"
after="$(cpu_ticks)"
echo "$result"

field() { echo "$result" | grep -o "\"$1\":[^,}]*" | head -n 1 | cut -d: -f2; }
tokens="$(field tokens)"; errors="$(field errors)"
hz="$(getconf CLK_TCK)"
awk -v b="$before" -v a="$after" -v hz="$hz" -v t="$tokens" -v e="$errors" -v m="$mode" \
    -v tps="$(field tokens_per_second)" -v p99="$(field p99_ms)" 'BEGIN {
  cpu = (a - b) / hz; n = t + e;
  printf "{\"mode\":\"%s\",\"tokens\":%d,\"errors\":%d,\"tokens_per_second\":%s,\"p99_ms\":%s,", m, t, e, tps, p99;
  printf "\"server_cpu_seconds\":%.2f,\"server_cpu_us_per_token\":%.3f}\n", cpu, (n > 0 ? cpu * 1e6 / n : 0);
}'
