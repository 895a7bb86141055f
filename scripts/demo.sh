#!/usr/bin/env bash
# The demo: builds bridgewatch and replays the shipped container-host capture,
# printing one JSON flow record per line and the run summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
exec target/release/bridgewatch replay --containers pcaps/demo-containers.json pcaps/demo-container-host.pcap "$@"
