#!/usr/bin/env bash
# README command 2: install, build and run the whole test suite with ctest.
#   scripts/test.sh              the full build (service, tests, benchmarks) against OpenSSL
#   scripts/test.sh --boringssl  signer/ and its tests against BoringSSL, in build-boringssl/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ "${1:-}" = "--boringssl" ]; then
  export BUILD_DIR="${BUILD_DIR:-build-boringssl}"
  bash scripts/build.sh -DSASMINT_CRYPTO=boringssl -DSASMINT_BUILD_SERVICE=OFF
else
  export BUILD_DIR="${BUILD_DIR:-build}"
  bash scripts/build.sh
fi
cd "$BUILD_DIR"
ctest --output-on-failure --parallel "$(nproc)"
