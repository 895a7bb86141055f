#!/usr/bin/env bash
# Builds a container image from a locally built bridgewatch binary, with no base
# image to pull (docker/Dockerfile.local is FROM scratch): for machines without a
# container registry, and for the tests.
#
#   docker/build-local.sh [BINARY] [TAG]
#   docker/build-local.sh target/release/bridgewatch bridgewatch:local   (the defaults)
#
# Stages a root filesystem with the binary (debug info stripped), every shared
# library `ldd` lists for it (libpcap, libc, ... and the dynamic loader), CA
# certificates, passwd/group entries for the non-root user 10001 and its state
# directory, then runs `docker build`.
#
# Unlike docker/Dockerfile, the binary carries no file capabilities: the legacy
# builder's COPY from a build context drops the security.capability attribute
# (checked here: a setcap'd binary still started without CAP_NET_ADMIN granted).
# So this image replays as user 10001 with no privileges; to capture live with it,
# run it as `--user 0 --cap-drop ALL --cap-add NET_RAW --cap-add NET_ADMIN`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-target/release/bridgewatch}"
tag="${2:-bridgewatch:local}"
[ -x "$bin" ] || { echo "build-local.sh: $bin is not an executable (cargo build first)" >&2; exit 1; }
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
install -d "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/etc/bridgewatch/rules" "$ctx/state/spool"
install -d -m 1777 "$root/tmp"
cp "$bin" "$root/usr/local/bin/bridgewatch"
if command -v strip >/dev/null; then
  strip --strip-debug "$root/usr/local/bin/bridgewatch"
fi
# Every library the binary links, at the path the loader will look for it.
ldd "$bin" | while read -r a b c _; do
  case "$a $b $c" in
    *"not found"*) echo "build-local.sh: $bin: $a not found" >&2; exit 1 ;;
  esac
  if [ "$b" = "=>" ] && [ -n "$c" ] && [ "${c#/}" != "$c" ]; then
    cp -L --parents "$c" "$root"
  elif [ "${a#/}" != "$a" ]; then
    cp -L --parents "$a" "$root"   # the dynamic loader
  fi
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nbridgewatch:x:10001:10001::/var/lib/bridgewatch:/usr/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nbridgewatch:x:10001:\n' > "$root/etc/group"
cp "$here/Dockerfile.local" "$ctx/Dockerfile"
docker build -q -t "$tag" "$ctx"
