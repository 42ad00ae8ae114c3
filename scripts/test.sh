#!/usr/bin/env bash
# zlmc's whole test suite, as CI runs it: install the toolchains the tests use,
# check formatting, then build the workspace once for the tests — linting its
# own crates on the way, as `cargo clippy --workspace --all-targets -- -D
# warnings` would (scripts/clippy-rustc) — and run every test. Tests skipped
# for want of something (z80ai's tinychat in ../shared, a tool) are listed at
# the end. Arguments go to `cargo test` (`scripts/test.sh -- tinychat`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check

# zlmc_test_support::skip appends to this file; cleared here, printed below.
export ZLMC_SKIP_LOG="$PWD/target/test-skips.txt"
mkdir -p target
rm -f "$ZLMC_SKIP_LOG"
print_skips() {
  if [ -s "$ZLMC_SKIP_LOG" ]; then
    echo
    echo "SKIPPED TESTS ($(wc -l <"$ZLMC_SKIP_LOG")):"
    sort "$ZLMC_SKIP_LOG" | sed 's/^/  /'
  else
    echo
    echo "No test was skipped."
  fi
}
trap print_skips EXIT

# One build serves the lints and the tests: clippy-driver compiles the
# workspace's crates (lib, bins, unit and integration tests: the targets
# `--all-targets` lints) and fails on any warning; the dependencies are
# compiled once, for the tests, and not a second time in check mode.
export RUSTC_WORKSPACE_WRAPPER="$PWD/scripts/clippy-rustc"
cargo test --workspace --locked --no-run
cargo test --workspace --locked "$@"
