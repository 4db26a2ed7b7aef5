#!/usr/bin/env bash
# Same-run A/B of what metrics cost the server: server_cpu.sh with metrics off and on,
# alternating, ROUNDS times, for one load shape; prints each round's server CPU per token and the
# on/off ratio of the medians.
#
#   bench/load/metrics_ab.sh MODE CONCURRENCY SECONDS [ROUNDS]   e.g. batch:1000 4 8 5
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mode=$1 concurrency=$2 seconds=$3 rounds=${4:-5}
off=() on=()
per_token() { "$here/server_cpu.sh" "$mode" "$concurrency" "$seconds" | tail -1 |
  sed -n 's/.*"server_cpu_us_per_token":\([0-9.]*\).*/\1/p'; }
for r in $(seq "$rounds"); do
  a=$(SERVE_FLAGS="" per_token)
  b=$(SERVE_FLAGS="--metrics-listen 127.0.0.1:0" per_token)
  off+=("$a") on+=("$b")
  echo "round $r: off $a us/token, on $b us/token"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
m_off=$(median "${off[@]}") m_on=$(median "${on[@]}")
awk -v a="$m_off" -v b="$m_on" -v m="$mode" \
  'BEGIN {printf "metrics A/B %s: median off %.4f us/token, on %.4f us/token, on/off %.4f\n", m, a, b, b/a}'
