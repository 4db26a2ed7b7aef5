#!/usr/bin/env bash
# podman as it runs on our machines (docs/design.md §9): the runc runtime (crun fails on this
# host's hybrid cgroups and on setrlimit), cgroupfs, and scripts/podman/containers.conf. On a
# host where podman works as installed, set SASMINT_PODMAN_FLAGS="" (and CONTAINERS_CONF to
# your own file, or empty) to run it unchanged.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF-$here/podman/containers.conf}"
[ -n "$CONTAINERS_CONF" ] || unset CONTAINERS_CONF
# shellcheck disable=SC2086  # the flags are words
exec podman ${SASMINT_PODMAN_FLAGS---runtime runc --cgroup-manager=cgroupfs} "$@"
