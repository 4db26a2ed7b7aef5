#!/usr/bin/env bash
# README command 1: install, build, start `sasmint serve --demo` on loopback, and mint a token
# over gRPC with `sasmint mint`. The server keeps running in the foreground; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR="${BUILD_DIR:-build}" bash scripts/build.sh -DSASMINT_BUILD_TESTS=OFF -DSASMINT_BUILD_BENCH=OFF
bin="${BUILD_DIR:-build}/bin/sasmint"
listen="127.0.0.1:${SASMINT_DEMO_PORT:-50051}"
port_file="$(mktemp)"
rm -f "$port_file"

"$bin" serve --demo --listen "$listen" --port-file "$port_file" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server; rm -f "$port_file"' INT TERM
for _ in $(seq 100); do
  [ -s "$port_file" ] && break
  kill -0 "$server" 2>/dev/null || { echo "demo: the server did not start" >&2; exit 1; }
  sleep 0.1
done

echo
echo "\$ $bin mint --server $listen --hub sasmint-demo.azure-devices.net --device demo-device-1"
"$bin" mint --server "$listen" --hub sasmint-demo.azure-devices.net --device demo-device-1
echo
echo "sasmint is serving the demo hub on $listen (Ctrl-C stops it)."
wait "$server"
