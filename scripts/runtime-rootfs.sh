#!/usr/bin/env bash
# Lays out the runtime image's whole filesystem in DIR: the given binaries (stripped) in
# /usr/local/bin, exactly the shared libraries they load (ldd's answer, at the paths the dynamic
# loader looks them up by), and /etc/passwd and /etc/group naming the service's numeric user.
# No shell, no package manager, no compiler: the image runs the binaries and nothing else.
#
#   runtime-rootfs.sh DIR UID GID BINARY...
set -euo pipefail
dir="$1" uid="$2" gid="$3"
shift 3
mkdir -p "$dir/usr/local/bin" "$dir/etc"
declare -A libs=()
for bin in "$@"; do
  install -m 0755 -s "$bin" "$dir/usr/local/bin/$(basename "$bin")"
  # "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" and the loader's own line. A
  # library ldd cannot find would only fail when the container starts: fail here instead.
  deps="$(ldd "$bin")"
  if grep -q 'not found' <<<"$deps"; then
    echo "runtime-rootfs: $bin: $(grep 'not found' <<<"$deps" | tr -s ' \t' ' ')" >&2
    exit 1
  fi
  while read -r path; do libs["$path"]=1; done < <(
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$deps")
done
for lib in "${!libs[@]}"; do
  mkdir -p "$dir$(dirname "$lib")"
  cp -L "$lib" "$dir$lib"
done
# Debian's loader path is /lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...; with a
# merged /usr, /lib and /lib64 are symlinks into /usr: keep the same shape.
for link in /lib /lib64; do
  if [ -L "$link" ] && [ -d "$dir$link" ] && [ ! -L "$dir$link" ]; then
    target="$(readlink "$link")"
    mkdir -p "$dir/$target"
    cp -a "$dir$link/." "$dir/$target/"
    rm -rf "${dir:?}$link"
    ln -s "$target" "$dir$link"
  fi
done
printf 'root:x:0:0:root:/:/sbin/nologin\nsasmint:x:%s:%s:sasmint:/:/sbin/nologin\n' "$uid" "$gid" \
  >"$dir/etc/passwd"
printf 'root:x:0:\nsasmint:x:%s:\n' "$gid" >"$dir/etc/group"
echo "runtime-rootfs: $# binaries, ${#libs[@]} libraries, $(du -sh "$dir" | cut -f1)"
