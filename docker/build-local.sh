#!/usr/bin/env bash
# Builds a container image from a locally built bridgewatch binary with no base
# image to pull: for machines without a container registry, and for the tests.
#
#   docker/build-local.sh [BINARY] [TAG]
#   docker/build-local.sh target/release/bridgewatch bridgewatch:local   (the defaults)
#
# Stages a root filesystem holding the binary (debug info stripped), every shared
# library `ldd` lists for it (libpcap, libc, ... and the dynamic loader), CA
# certificates, passwd/group entries for the non-root user 10001 and its state
# directory, and imports it with `docker import` as a one-layer image -- what
# `FROM scratch` + `COPY` would give, but `docker import` keeps the binary's file
# capabilities (the legacy builder's COPY drops them; both checked here).
#
# File capabilities, as in docker/Dockerfile: cap_net_raw, cap_net_admin,
# cap_sys_admin, cap_sys_ptrace as *permitted* (=p): the binary starts with
# whichever of them the container is granted and raises those itself (see
# src/privileges.rs).  Needs root (setcap, chown) or the docker group plus sudo.
set -euo pipefail
bin="${1:-target/release/bridgewatch}"
tag="${2:-bridgewatch:local}"
[ -x "$bin" ] || { echo "build-local.sh: $bin is not an executable (cargo build first)" >&2; exit 1; }
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
install -d "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/etc/bridgewatch/rules" \
  "$root/var/lib/bridgewatch/spool"
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
  if [ "$b" = "=>" ] && [ "${c#/}" != "$c" ]; then
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
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO chown -R 10001:10001 "$root/var/lib/bridgewatch"
$SUDO setcap cap_net_raw,cap_net_admin,cap_sys_admin,cap_sys_ptrace=p "$root/usr/local/bin/bridgewatch"
$SUDO tar --xattrs --xattrs-include='security.capability' --numeric-owner -C "$root" -c . |
  docker import \
    --change 'USER 10001:10001' \
    --change 'WORKDIR /var/lib/bridgewatch' \
    --change 'EXPOSE 9477' \
    --change 'ENTRYPOINT ["/usr/local/bin/bridgewatch"]' \
    --change 'CMD ["--help"]' \
    - "$tag"
