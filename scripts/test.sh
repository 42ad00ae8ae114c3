#!/usr/bin/env bash
# zlmc's whole test suite, as CI runs it: install the toolchains the tests use,
# check formatting and lints, then run every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
