#!/usr/bin/env bash
# Installs the system packages bridgewatch needs to build and test, when missing.
# Debian/Ubuntu; needs root (or sudo). Safe to run again: it only installs what is absent.
set -euo pipefail

packages=(
  libpcap-dev   # libpcap: BPF filters now, live capture later (crate pcap links it)
  pkg-config
  tshark        # tests: ground-truth conversation counts, capture checks
  tcpdump       # benchmark reference
  time          # benchmark: peak RSS via /usr/bin/time
  iproute2      # tests that build network namespaces (tests/watch_netns.rs: bridge, veths, ip netns)
  util-linux    # setpriv: tests/watch_netns.rs runs watch without CAP_NET_RAW
  rsyslog       # tests: a real syslog receiver for the syslog output
  busybox-static # tests: a tiny container image made with docker import (no registry)
  rsyslog-gnutls # tests: rsyslog's TLS driver, for syslog over TLS
  rsyslog-relp  # tests: rsyslog's RELP input (imrelp), for syslog over RELP
)

# Python: the offline Kubernetes schema check of docker/kubernetes (tests/deploy_files.rs).
if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
  echo "installing: kubernetes-validate (pip)" >&2
  python3 -m pip install -q --disable-pip-version-check kubernetes-validate
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
