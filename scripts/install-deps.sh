#!/usr/bin/env bash
# Installs every build and test dependency of sasmint from Debian 12 packages.
# Idempotent and quiet: packages already present are skipped; `apt-get update` runs only when
# something is missing. Run as root (or with sudo available).
#
#   install-deps.sh           everything: build, tests, benchmarks, BoringSSL, fuzzers
#   install-deps.sh --image   only what building the binaries needs (the Containerfile's stage)
#   install-deps.sh --deploy  the container and Kubernetes tools of the deployment checks
#                             (podman, buildah, runc, debootstrap; kubectl if absent; npm)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ca-certificates
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev libsimdjson-dev prometheus-cpp-dev
)
if [ "${1:-}" = "--deploy" ]; then
  packages=(podman buildah runc catatonit debootstrap containernetworking-plugins iptables openssl)
  command -v npm >/dev/null || packages+=(nodejs npm)
  # kubectl with kustomize v4+ (components): the machine's own, else the kubectl package where an
  # apt source has it, else Debian's kubernetes-client (whose kustomize is too old: the checks
  # say so).
  if ! command -v kubectl >/dev/null; then
    if apt-cache show kubectl >/dev/null 2>&1; then packages+=(kubectl); else packages+=(kubernetes-client); fi
  fi
elif [ "${1:-}" != "--image" ]; then
  packages+=(
    git libgtest-dev libgmock-dev googletest libbenchmark-dev
    prometheus gnuplot-nox curl                  # tests/deploy/prometheus_test.sh, bench pictures
    etcd-server etcd-client                      # the shared admin store's tests (real etcd)
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
