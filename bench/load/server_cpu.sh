#!/usr/bin/env bash
# Measures the server's CPU time per token under sasmint-bench load: the
# server pinned to one core, the load client to another, server CPU read from /proc/<pid>/stat
# (utime + stime), not wall time.
#
#   bench/load/server_cpu.sh MODE CONCURRENCY SECONDS [more sasmint-bench flags]
#   e.g. bench/load/server_cpu.sh batch:1000 4 10
#        bench/load/server_cpu.sh unary 8 10 --rate 20000
#
# Environment: BUILD_DIR (default build), DEVICES (identities, default 100000), SERVER_CPU
# (default 0), CLIENT_CPU (default 1), SASMINT_ISA (passed to the server), SERVE_FLAGS (more
# `sasmint serve` flags, e.g. "--metrics-listen 127.0.0.1:0" for metrics on).
# Prints sasmint-bench's JSON line, then one JSON line with the server's CPU per token and,
# where /usr/bin/time is installed, the load client's CPU seconds and CPU per token.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${BUILD_DIR:-build}"
mode="${1:?mode}"; concurrency="${2:?concurrency}"; seconds="${3:?seconds}"; shift 3
hub=bench.azure-devices.net
tmp="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$build/bin/sasmint-gen-export" --count "${DEVICES:-100000}" --out "$tmp/devices.json"
taskset -c "${SERVER_CPU:-0}" "$build/bin/sasmint" serve --hub "$hub" \
    --devices "$tmp/devices.json" --listen 127.0.0.1:0 --port-file "$tmp/port" ${SERVE_FLAGS:-} \
    2>"$tmp/server.log" &
server=$!
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port="$(cat "$tmp/port")"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
before="$(cpu_ticks)"
# The client's CPU time (user + system), from /usr/bin/time when there is one.
client_time=()
if [ -x /usr/bin/time ]; then client_time=(/usr/bin/time -f "%U %S" -o "$tmp/client_time"); fi
result="$("${client_time[@]}" taskset -c "${CLIENT_CPU:-1}" "$build/bin/sasmint-bench" --target "127.0.0.1:$port" \
    --hub "$hub" --devices "$tmp/devices.json" --mode "$mode" --concurrency "$concurrency" \
    --duration "$seconds" --warmup 0 --quiet "$@" | tail -n 1)"
after="$(cpu_ticks)"
echo "$result"

field() { echo "$result" | grep -o "\"$1\":[^,}]*" | head -n 1 | cut -d: -f2; }
tokens="$(field tokens)"; errors="$(field errors)"
hz="$(getconf CLK_TCK)"
client_cpu=-1
if [ -s "$tmp/client_time" ]; then
  client_cpu="$(tail -n 1 "$tmp/client_time" | awk '{print $1 + $2}')"
fi
awk -v b="$before" -v a="$after" -v hz="$hz" -v t="$tokens" -v e="$errors" -v m="$mode" \
    -v tps="$(field tokens_per_second)" -v p99="$(field p99_ms)" -v tr="$(field transport)" \
    -v cc="$client_cpu" 'BEGIN {
  cpu = (a - b) / hz; n = t + e;
  printf "{\"mode\":\"%s\",\"transport\":%s,\"tokens\":%d,\"errors\":%d,\"tokens_per_second\":%s,\"p99_ms\":%s,", m, tr, t, e, tps, p99;
  printf "\"server_cpu_seconds\":%.2f,\"server_cpu_us_per_token\":%.3f", cpu, (n > 0 ? cpu * 1e6 / n : 0);
  # The client runs for warm-up and drain too: its CPU per token is an upper bound.
  if (cc >= 0) printf ",\"client_cpu_seconds\":%.2f,\"client_cpu_us_per_token\":%.3f", cc, (n > 0 ? cc * 1e6 / n : 0);
  printf "}\n";
}'
