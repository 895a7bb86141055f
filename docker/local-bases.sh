#!/usr/bin/env bash
# Builds local STAND-INS for the two base images docker/Dockerfile names, so that its
# own two-stage build can run on a machine with no container registry (only a Debian
# mirror and crates.io reachable):
#
#   debian:<release>-slim          a `debootstrap --variant=minbase <release>` root
#                                  filesystem, imported with `docker import`
#   rust:<X.Y>-slim-<release>      that image + gcc/libc6-dev/ca-certificates (what the
#   rust:<X.Y.Z>-slim-<release>    official rust slim image adds) + THIS host's active
#                                  Rust toolchain (rustc, cargo, rust-std only), under
#                                  the official image's RUSTUP_HOME/CARGO_HOME/PATH,
#                                  + the CA certificates the host added locally
#
# The one deliberate difference: certificates under BW_EXTRA_CA_DIR (default
# /usr/local/share/ca-certificates, where a host puts the CA of a TLS-intercepting
# egress proxy) go into the Rust image's trust store, because cargo in the builder
# must reach crates.io the way the host does; without them the first build here
# failed with "SSL certificate problem: self-signed certificate in certificate chain".
# The Debian (runtime) image gets none.  BW_EXTRA_CA_DIR= (empty) adds nothing.
#
# They are not the official images (those are built by Docker's official-images
# program from debuerreotype and rustup-init); they are what can be built here, with
# the same names, paths and environment, so `docker build -f docker/Dockerfile` runs
# unchanged.  The Rust tag is the version the host toolchain really is (`rustc -vV`),
# so pass it as --build-arg RUST_VERSION=<X.Y>.  See README, "Deployment".
#
#   docker/local-bases.sh            # builds whichever of the images is missing
#   docker/local-bases.sh --force    # rebuilds both
#   docker/local-bases.sh --remove   # removes the images this script creates
#
# Environment: DEBIAN_RELEASE (bookworm), DEBIAN_MIRROR (http://deb.debian.org/debian),
# BW_ROOTFS (debootstrap into / reuse this directory and keep it; default: a
# temporary directory removed at the end), BW_EXTRA_CA_DIR (above).  Needs root (debootstrap, chown) and Docker.
set -euo pipefail

release="${DEBIAN_RELEASE:-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
extra_ca="${BW_EXTRA_CA_DIR-/usr/local/share/ca-certificates}"
mode="${1:-}"
case "$mode" in
  "" | --force | --remove) ;;
  *) echo "usage: $0 [--force|--remove]" >&2; exit 2 ;;
esac

# The toolchain `rustc` resolves to here (rustup proxy or not), and its version.
sysroot="$(readlink -f "$(rustc --print sysroot)")"
rust_full="$(rustc -vV | sed -n 's/^release: //p')"
host="$(rustc -vV | sed -n 's/^host: //p')"
rust_minor="${rust_full%.*}"
debian_tag="debian:${release}-slim"
rust_tag="rust:${rust_minor}-slim-${release}"
rust_tag_full="rust:${rust_full}-slim-${release}"

have() { docker image inspect "$1" >/dev/null 2>&1; }

if [ "$mode" = --remove ]; then
  for t in "$rust_tag_full" "$rust_tag" "$debian_tag"; do
    if have "$t"; then docker rmi "$t"; fi
  done
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "local-bases.sh: run as root (debootstrap, chown)" >&2; exit 1; }

work="$(mktemp -d /tmp/bw-local-bases.XXXXXX)"
prep="bw-local-bases-prep-$$"
cleanup() {
  docker rm -f "$prep" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- debian:<release>-slim -------------------------------------------------------
if [ "$mode" = --force ] || ! have "$debian_tag"; then
  rootfs="${BW_ROOTFS:-$work/debian}"
  # debootstrap removes <target>/debootstrap when it has finished: a tree without it
  # and with a dpkg database is complete and is reused.
  if [ ! -f "$rootfs/var/lib/dpkg/status" ] || [ -d "$rootfs/debootstrap" ]; then
    rm -rf "$rootfs"
    debootstrap --variant=minbase "$release" "$rootfs" "$mirror"
  fi
  # As the official image: the release's updates and security suites, no package
  # lists or downloaded packages, and no man pages or docs installed later
  # (copyright files are kept).  The host's hostname and resolver are not baked in.
  rm -f "$rootfs/etc/apt/sources.list" "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"
  cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${mirror}
Suites: ${release} ${release}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: ${release}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$rootfs/usr/share/man/"* "$rootfs/usr/share/info/"*
  rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin \
    "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/log/"*.log
  tar --numeric-owner --xattrs -C "$rootfs" -c . |
    docker import \
      --change 'CMD ["bash"]' \
      --message "bridgewatch docker/local-bases.sh: stand-in for the official ${debian_tag} (debootstrap --variant=minbase ${release} ${mirror})" \
      - "$debian_tag"
  [ -n "${BW_ROOTFS:-}" ] || rm -rf "$rootfs"
fi

# --- rust:<X.Y>-slim-<release> ---------------------------------------------------
if [ "$mode" = --force ] || ! have "$rust_tag"; then
  # What the official rust slim image installs on top of debian slim, installed by
  # the Debian image itself (host network: the default bridge may have no route out),
  # and the host's local CAs (see the top).
  ca_mount=()
  if [ -n "$extra_ca" ] && compgen -G "$extra_ca/*.crt" >/dev/null; then
    ca_mount=(-v "$extra_ca:/bw-extra-ca:ro")
  fi
  docker run --name "$prep" --network host "${ca_mount[@]}" "$debian_tag" sh -ec '
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev
    rm -rf /var/lib/apt/lists/*
    if [ -d /bw-extra-ca ]; then
      cp /bw-extra-ca/*.crt /usr/local/share/ca-certificates/
      update-ca-certificates
    fi'
  root="$work/rust"
  mkdir -p "$root"
  docker export "$prep" | tar --numeric-owner -C "$root" -x
  docker rm "$prep" >/dev/null
  # What docker run leaves behind: its marker and the certificates' mount point.
  rm -f "$root/.dockerenv"
  rmdir "$root/bw-extra-ca" 2>/dev/null || true
  # The one toolchain, under the official image's paths, minus every component a
  # `--profile minimal` install lacks (docs alone are ~800 MB): each removed the way
  # rustup removes it, from its manifest, so rustup's own records stay consistent.
  name="${rust_full}-${host}"
  tc="$root/usr/local/rustup/toolchains/$name"
  mkdir -p "$(dirname "$tc")" "$root/usr/local/cargo/bin"
  cp -a "$sysroot" "$tc"
  rl="$tc/lib/rustlib"
  : > "$work/components"
  while read -r comp; do
    case "$comp" in
      rustc-* | cargo-* | rust-std-*) echo "$comp" >> "$work/components" ;;
      *)
        while IFS=: read -r kind path; do
          case "$kind" in file | dir) rm -rf "${tc:?}/$path" ;; esac
        done < "$rl/manifest-$comp"
        rm -f "$rl/manifest-$comp"
        ;;
    esac
  done < "$rl/components"
  cp "$work/components" "$rl/components"
  {
    echo 'config_version = "1"'
    while read -r comp; do
      printf '\n[[components]]\npkg = "%s"\ntarget = "%s"\nis_extension = false\n' \
        "${comp%-"$host"}" "$host"
    done < "$work/components"
  } > "$rl/multirust-config.toml"
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n' "$name" \
    > "$root/usr/local/rustup/settings.toml"
  # rustup and its proxies, as rustup-init lays them out.
  rustup_bin="$(readlink -f "$(command -v rustup)")"
  cp "$rustup_bin" "$root/usr/local/cargo/bin/rustup"
  for p in cargo rustc rustdoc rust-gdb rust-gdbgui rust-lldb; do
    ln -sf rustup "$root/usr/local/cargo/bin/$p"
  done
  chmod -R a+w "$root/usr/local/rustup" "$root/usr/local/cargo"
  tar --numeric-owner --xattrs -C "$root" -c . |
    docker import \
      --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
      --change 'ENV CARGO_HOME=/usr/local/cargo' \
      --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "ENV RUST_VERSION=${rust_full}" \
      --change 'CMD ["bash"]' \
      --message "bridgewatch docker/local-bases.sh: stand-in for the official ${rust_tag} (${debian_tag} stand-in + gcc, libc6-dev, ca-certificates + host toolchain ${name}, components rustc cargo rust-std)" \
      - "$rust_tag"
  docker tag "$rust_tag" "$rust_tag_full"
  rm -rf "$root"
fi

# Both must run: the toolchain through its proxies, with nothing from the host.
docker run --rm --network none "$rust_tag" sh -c 'cargo --version && rustc --version && cc --version | head -1'
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^(${debian_tag}|${rust_tag}|${rust_tag_full}) " || true
echo "local-bases.sh: build with --build-arg RUST_VERSION=${rust_minor} --build-arg DEBIAN_RELEASE=${release}"
