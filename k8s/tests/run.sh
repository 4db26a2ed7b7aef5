#!/usr/bin/env bash
# Installs the pinned checkers (npm ci) and checks every kustomization of k8s/
# (check-manifests.mjs). Needs kubectl with kustomize v4 or later, Node.js and npm.
set -euo pipefail
cd "$(dirname "$0")"
version="$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\).*/\1/p')"
if [ -z "$version" ] || [ "$version" -lt 4 ]; then
  echo "k8s: kubectl's kustomize is missing or older than v4 (components): $(kubectl version --client 2>&1 | tr '\n' ' ')" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
node check-manifests.mjs
