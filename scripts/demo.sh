#!/usr/bin/env bash
# The demo: builds bridgewatch and replays the shipped container-host capture with the
# shipped policies, printing one JSON alert per line (add --flows - for flow records)
# and the run summary on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
exec target/release/bridgewatch replay --containers pcaps/demo-containers.json pcaps/demo-container-host.pcap "$@"
