#!/usr/bin/env bash
# The image and the manifests for real: renders k8s/overlays/podman with kubectl kustomize, runs
# it with `podman kube play` (the image from scripts/image.sh; built first if missing), and checks
# what a cluster would rely on:
#   - the container runs as UID/GID 10001 with a read-only root, no capabilities, no_new_privs
#     and a seccomp filter;
#   - the health port answers SERVING for readiness and liveness;
#   - a gateway certificate mints a token through the published port that equals the offline
#     token for the same key and expiry, and a certificate the configuration does not name is
#     refused;
#   - a kubelet-style ..data swap of the mounted key directory changes the key within 2 s;
#   - stopping the pod ends it gracefully (SIGTERM handled, "stopped" logged, exit 0) within the
#     Deployment's terminationGracePeriodSeconds, and `podman kube down` removes it.
# Needs root, podman, runc, catatonit, kubectl, openssl; uses host ports 31051 and 31080 and
# /var/tmp/sasmint-kube (the overlay's host paths).
#
#   tests/deploy/podman_test.sh            (BUILD_DIR: where bin/sasmint is, default build)
set -euo pipefail
cd "$(dirname "$0")/../.."
sasmint="${BUILD_DIR:-build}/bin/sasmint"
podman=(bash scripts/podman.sh)
image="localhost/sasmint:dev"
root=/var/tmp/sasmint-kube
hub=myhub.azure-devices.net
key1="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
key2="ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
work="$(mktemp -d /tmp/sasmint-podman-test.XXXXXX)"
failures=0

fail() { echo "podman_test: FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "podman_test: ok: $*"; }
now_ms() { date +%s%3N; }

cleanup() {
  "${podman[@]}" kube down "$work/play.yaml" >/dev/null 2>&1 || true
  rm -rf "$root" "$work"
}
trap cleanup EXIT

[ -x "$sasmint" ] || { echo "podman_test: build $sasmint first" >&2; exit 2; }
if ! "${podman[@]}" image exists "$image"; then bash scripts/image.sh "$image"; fi

export_line() {  # device key
  printf '{"id":"%s","status":"enabled","authentication":{"type":"sas","symmetricKey":{"primaryKey":"%s","secondaryKey":"%s"},"x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null}}}\n' \
    "$1" "$2" "$2"
}

# A kubelet-style volume: ..<version>/<files>, ..data -> ..<version>, <file> -> ..data/<file>.
publish() {  # dir version file...   (files are in $work/payload)
  local dir="$1" version="$2"
  shift 2
  mkdir -p "$dir/..$version"
  for f in "$@"; do cp "$work/payload/$f" "$dir/..$version/$f"; done
  chown -R 10001:10001 "$dir/..$version"
  chmod 0550 "$dir/..$version"
  chmod 0440 "$dir/..$version/"*
  ln -sfn "..$version" "$dir/..data_tmp"
  mv -T "$dir/..data_tmp" "$dir/..data"
  for f in "$@"; do [ -L "$dir/$f" ] || ln -s "..data/$f" "$dir/$f"; done
}

# Certificates: a CA, the server's (for the name "sasmint"), the gateway's (the configuration's
# caller CN), and a stranger's.
mkdir -p "$work/payload" "$work/client"
cert() {  # name cn [extensions]
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/client/$1.key" \
    -out "$work/$1.csr" -subj "/CN=$2" 2>/dev/null
  openssl x509 -req -in "$work/$1.csr" -CA "$work/client/ca.crt" -CAkey "$work/ca.key" \
    -CAcreateserial -days 1 -out "$work/client/$1.crt" -extfile <(printf '%s\n' "${3:-}") 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" \
  -out "$work/client/ca.crt" -days 1 -subj "/CN=sasmint test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign 2>/dev/null
cert server sasmint "subjectAltName=DNS:sasmint"
cert gateway sasmint-gateway
cert stranger stranger
cp "$work/client/server.crt" "$work/payload/tls.crt"
cp "$work/client/server.key" "$work/payload/tls.key"
cp "$work/client/ca.crt" "$work/payload/ca.crt"
export_line kube-dev-1 "$key1" >"$work/payload/devices.json"

rm -rf "$root"
mkdir -p "$root/keys" "$root/tls"
publish "$root/tls" v1 tls.crt tls.key ca.crt
publish "$root/keys" v1 devices.json

kubectl kustomize k8s/overlays/podman >"$work/play.yaml"
grace="$(awk '/terminationGracePeriodSeconds:/ {print $2}' "$work/play.yaml")"
# The container's log in a file of ours, which outlives the container (kube down removes it).
"${podman[@]}" kube play --log-driver k8s-file --log-opt "path=$work/container.log" \
  "$work/play.yaml" >/dev/null
container=sasmint-pod-0-sasmint

ready=""
for _ in $(seq 1 150); do
  if "$sasmint" health --server 127.0.0.1:31080 --service sasmint.v1.TokenService --timeout 2 \
    >/dev/null 2>&1; then ready=yes; break; fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  cat "$work/container.log" >&2
  echo "podman_test: FAIL: never ready" >&2
  exit 1
fi
pass "readiness SERVING on the published health port"
[ "$("$sasmint" health --server 127.0.0.1:31080 --service liveness || true)" = SERVING ] &&
  pass "liveness SERVING" || fail "liveness is not SERVING"

pid="$("${podman[@]}" inspect --format '{{.State.Pid}}' "$container")"
uid="$(awk '/^Uid:/ {print $2 ":" $3}' "/proc/$pid/status")"
gid="$(awk '/^Gid:/ {print $2 ":" $3}' "/proc/$pid/status")"
[ "$uid" = "10001:10001" ] && [ "$gid" = "10001:10001" ] && pass "runs as 10001:10001" ||
  fail "runs as uid $uid gid $gid"
root_opts="$(awk '$5 == "/" {print $6}' "/proc/$pid/mountinfo" | tail -n 1)"
[[ "$root_opts" == ro,* ]] && pass "root filesystem read-only ($root_opts)" ||
  fail "root filesystem mounted $root_opts"
grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status" && pass "no capabilities" ||
  fail "capabilities: $(grep CapEff "/proc/$pid/status")"
grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status" && pass "no_new_privs" ||
  fail "no_new_privs is off"
grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status" && pass "seccomp filter" ||
  fail "no seccomp filter"

tls_flags=(--tls-ca "$work/client/ca.crt" --tls-server-name sasmint)
mint() {  # client-name -> the token JSON, or nothing
  "$sasmint" mint --server 127.0.0.1:31051 --hub "$hub" --device kube-dev-1 --json --timeout 5 \
    "${tls_flags[@]}" --tls-cert "$work/client/$1.crt" --tls-key "$work/client/$1.key" 2>"$work/mint.err"
}
offline() {  # key expiry
  "$sasmint" token --hub "$hub" --device kube-dev-1 --key "$1" --expiry "$2"
}
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }

minted="$(mint gateway || true)"
token="$(printf '%s' "$minted" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')"
expiry="$(printf '%s' "$minted" | field expires_at)"
if [ -n "$token" ] && [ "$token" = "$(offline "$key1" "$expiry")" ]; then
  pass "minted through the published port, equal to the offline token"
else
  fail "mint through 127.0.0.1:31051: '$minted' $(cat "$work/mint.err")"
fi
if mint stranger >/dev/null; then
  fail "a certificate the configuration does not name minted a token"
else
  grep -q PERMISSION_DENIED "$work/mint.err" && pass "stranger refused (PERMISSION_DENIED)" ||
    fail "stranger refused with: $(cat "$work/mint.err")"
fi

# The kubelet's update of the key Secret: a new version directory, ..data swapped atomically.
export_line kube-dev-1 "$key2" >"$work/payload/devices.json"
swapped="$(now_ms)"
publish "$root/keys" v2 devices.json
rm -rf "$root/keys/..v1"
changed=""
while [ $(($(now_ms) - swapped)) -lt 10000 ]; do
  minted="$(mint gateway || true)"
  token="$(printf '%s' "$minted" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')"
  expiry="$(printf '%s' "$minted" | field expires_at)"
  if [ -n "$token" ] && [ "$token" = "$(offline "$key2" "$expiry")" ]; then
    changed=$(($(now_ms) - swapped))
    break
  fi
  sleep 0.05
done
if [ -n "$changed" ] && [ "$changed" -le 2000 ]; then
  pass "key changed ${changed} ms after the ..data swap"
else
  fail "key not changed within 2 s of the ..data swap (${changed:-never} ms)"
fi

# The pod's stop as the kubelet does it: SIGTERM, then up to terminationGracePeriodSeconds.
# podman 4.3's own `kube down` SIGKILLs at once and ignores the grace period (podman issues
# #19135 and #22397, fixed in 5.x), so the pod is stopped first with the manifest's grace, as
# podman's maintainers advise, then taken down.
start="$(now_ms)"
"${podman[@]}" pod stop -t "$grace" sasmint-pod-0 >/dev/null
stopped=$(($(now_ms) - start))
exit_code="$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$container")"
"${podman[@]}" kube down "$work/play.yaml" >/dev/null
if [ "$stopped" -lt $((grace * 1000)) ] && [ "$exit_code" = 0 ] &&
  grep -q '"msg":"shutting down","signal":"SIGTERM"' "$work/container.log" &&
  grep -q '"msg":"stopped"' "$work/container.log"; then
  pass "stopped on SIGTERM in ${stopped} ms, exit 0 (grace ${grace} s); kube down removed it"
else
  fail "stop took ${stopped} ms (grace ${grace} s), exit $exit_code; log: $(tail -n 3 "$work/container.log")"
fi

if [ "$failures" -gt 0 ]; then
  echo "podman_test: $failures failures; container log:" >&2
  cat "$work/container.log" >&2
  exit 1
fi
echo "podman_test: all checks passed"
