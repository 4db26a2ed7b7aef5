#!/usr/bin/env bash
# Installs every build and test dependency of sasmint from Debian 12 packages.
# Idempotent and quiet: packages already present are skipped; `apt-get update` runs only when
# something is missing. Run as root (or with sudo available).
#
#   install-deps.sh           everything: build, tests, benchmarks, BoringSSL, fuzzers
#   install-deps.sh --image   only what building the binaries needs (the Containerfile's stage)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ca-certificates
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev libsimdjson-dev
)
if [ "${1:-}" != "--image" ]; then
  packages+=(
    git libgtest-dev libgmock-dev googletest libbenchmark-dev
    android-libboringssl-dev
    libipsec-mb-dev                              # signer_benchmark's ipsecmb variants (optional)
    clang-14 libfuzzer-14-dev libclang-rt-14-dev # tests/fuzz (libFuzzer, clang only)
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
