#!/usr/bin/env bash
# What metrics cost the server, in instructions rather than CPU time: CPU time on a shared
# two-core machine wanders by 10 % or more between runs, far more than the 1 % to be shown, but
# callgrind's instruction count per token does not. Runs `sasmint serve` under callgrind with
# metrics off and then on, counts only while sasmint-bench drives it, and prints for each arm the
# server's instructions per token, then the on/off ratio.
#
#   bench/load/metrics_ir.sh MODE SECONDS     e.g. batch:1000 20, unary 20
#
# Environment: BUILD_DIR (default build), DEVICES (identities, default 10000), SASMINT_ISA
# (passed to the server). One caller, so at most one request is in flight when the window ends.
# Needs valgrind (apt-get install valgrind; not part of scripts/install-deps.sh).
set -euo pipefail
command -v callgrind_control >/dev/null || { echo "metrics_ir.sh: needs valgrind" >&2; exit 2; }
cd "$(dirname "$0")/../.."
build="${BUILD_DIR:-build}"
mode="${1:?mode}"; seconds="${2:?seconds}"
hub=bench.azure-devices.net
tmp="$(mktemp -d)"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
"$build/bin/sasmint-gen-export" --count "${DEVICES:-10000}" --out "$tmp/devices.json"

# One arm: prints "<tokens> <instructions>".
arm() {
  local name=$1; shift
  rm -f "$tmp/port"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/$name.out" \
    "$build/bin/sasmint" serve --hub "$hub" --devices "$tmp/devices.json" \
    --listen 127.0.0.1:0 --port-file "$tmp/port" "$@" 2>"$tmp/$name.log" &
  server=$!
  for _ in $(seq 1200); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  [ -s "$tmp/port" ] || { cat "$tmp/$name.log" >&2; exit 1; }
  callgrind_control -i on "$server" >/dev/null 2>&1
  local result
  result="$("$build/bin/sasmint-bench" --target "127.0.0.1:$(cat "$tmp/port")" --hub "$hub" \
    --devices "$tmp/devices.json" --mode "$mode" --concurrency 1 --duration "$seconds" \
    --warmup 0 --timeout 60 --quiet | tail -n 1)"
  # An explicit dump holds exactly what was counted while the load ran.
  callgrind_control -d "$server" >/dev/null 2>&1
  for _ in $(seq 600); do grep -qs "^totals:" "$tmp/$name.out.1" && break; sleep 0.1; done
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  local tokens errors
  tokens="$(echo "$result" | grep -o '"tokens":[0-9]*' | cut -d: -f2)"
  errors="$(echo "$result" | grep -o '"errors":[0-9]*' | cut -d: -f2)"
  local total
  total="$(awk '/^summary:/ {s += $2} END {print s}' "$tmp/$name.out.1")"
  echo "$((tokens + errors)) $total"
}

read -r t_off i_off < <(arm off)
read -r t_on i_on < <(arm on --metrics-listen 127.0.0.1:0)
awk -v m="$mode" -v to="$t_off" -v io="$i_off" -v tn="$t_on" -v in_="$i_on" \
  'BEGIN {
    a = io / to; b = in_ / tn
    printf "metrics instructions %s: off %d tokens, %.0f instructions/token; on %d tokens, %.0f instructions/token; on/off %.4f\n", m, to, a, tn, b, b / a
  }'
