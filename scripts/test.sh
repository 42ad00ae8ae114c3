#!/usr/bin/env bash
# zlmc's whole test suite, as CI runs it: install the toolchains the tests use,
# check formatting and lints, then run every test of the workspace. Tests
# skipped for want of something (z80ai's tinychat in ../shared, a tool) are
# listed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

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

cargo test --workspace --locked
