#!/usr/bin/env bash
# Builds sasmint's image from the Containerfile with podman and prints its size.
#
#   scripts/image.sh [TAG]        TAG defaults to localhost/sasmint:dev
#
# The Containerfile's stages start FROM docker.io/library/debian:bookworm. Where that image is
# neither present nor pullable (no registry reachable, as on our machines and in CI), it is made
# here from Debian's packages (debootstrap --variant=minbase bookworm, then podman import under
# that name), so the Containerfile that users build is the one tested. That local image then
# stands in for Debian's on this machine (it has the same packages and apt sources, and the
# build stage upgrades it); `podman rmi docker.io/library/debian:bookworm` lets the next run
# pull the real one where a registry answers. Needs root (rootful
# podman, debootstrap) and the Debian packages podman, buildah, runc, debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-localhost/sasmint:dev}"
base="docker.io/library/debian:bookworm"
podman=(bash scripts/podman.sh)

if ! "${podman[@]}" image exists "$base"; then
  if ! timeout 60 "${podman[@]}" pull -q "$base" >/dev/null 2>&1; then
    echo "image: $base is not pullable here; making it with debootstrap" >&2
    work="$(mktemp -d /var/tmp/sasmint-base.XXXXXX)"
    trap 'rm -rf "$work"' EXIT
    debootstrap --variant=minbase bookworm "$work/rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
      >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    # As Debian's own image: with updates and security updates, which the build stage applies.
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
      "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
      "${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}" \
      >"$work/rootfs/etc/apt/sources.list"
    tar -C "$work/rootfs" -c . | "${podman[@]}" import \
      --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  fi
fi

# --network host: the build stage's apt-get reaches the same mirrors as this machine.
"${podman[@]}" build --network host --pull=never -f Containerfile -t "$tag" .
size="$("${podman[@]}" image inspect --format '{{.Size}}' "$tag")"
echo "image: $tag, $((size / 1024 / 1024)) MiB ($size bytes)"
