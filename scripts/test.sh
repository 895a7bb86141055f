#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and end-to-end tests (including the
# accuracy tests against ../shared/pcaps when present).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
