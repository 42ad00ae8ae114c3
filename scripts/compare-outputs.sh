#!/usr/bin/env bash
# Shows that a change left zlmc's generated files byte-identical: builds the
# examples, the digits model imported at int8 and int4 (and its float spec),
# z80ai's tinychat (from ../shared, if there) and a fixed set of 99 seeded
# random models for every target and board, once with the zlmc binary of a
# base revision and once with the working tree's, and compares the files,
# the error messages and the exit codes.
#
#     scripts/compare-outputs.sh [BASE_REV]      (default: main)
#
# Exits 0 and prints "identical" when nothing differs; otherwise prints the
# differences and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base_rev=${1:-main}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "compare-outputs: building the working tree's zlmc" >&2
cargo build --release --quiet -p zlmc
cp target/release/zlmc "$work/zlmc-new"
echo "compare-outputs: building $base_rev's zlmc" >&2
git worktree add --quiet --detach "$work/base" "$base_rev"
CARGO_TARGET_DIR="$root/target/compare-base" cargo build --release --quiet \
  --manifest-path "$work/base/Cargo.toml" -p zlmc
cp target/compare-base/release/zlmc "$work/zlmc-base"
cargo run --release --quiet -p zlmc-test-support --bin write-random-models -- "$work/models"

# Every file a model's build writes, its stderr and its exit code, under
# OUT/MODEL/TARGET; the models and the output folder sit at the same paths
# for both binaries, so the files' banners and messages can be compared.
snapshot() {
  local zlmc=$1 out=$2 in=$work/in
  rm -rf "$in"; mkdir -p "$in" "$out"
  local shared=$root/../shared/z80ai/tinychat/model.npz
  [ -f "$shared" ] && "$zlmc" import z80ai "$shared" -o "$in/tinychat" >/dev/null 2>&1
  local digits=$root/examples/digits
  for w in int8 int4; do
    "$zlmc" import onnx "$digits/digits.onnx" --calibrate "$digits/data.npz" \
      -o "$in/digits-$w" --weights "$w" >/dev/null 2>&1
  done
  local models=("$root/examples/commands/model.yaml" "$in"/*/model.yaml
    "$in/digits-int8/float.yaml" "$work/models"/*.zir)
  for m in "${models[@]}"; do
    local name
    name=$(basename "$(dirname "$m")")-$(basename "$m")
    for t in c z80 zx48 avr:uno avr:nano avr:lilypad avr:mega2560; do
      local args=(--target "${t%%:*}")
      [[ $t == *:* ]] && args+=(--board "${t#*:}")
      local d=$out/$name/${t/:/-}
      mkdir -p "$d"
      rm -rf "$work/built"
      set +e
      "$zlmc" build "$m" "${args[@]}" -o "$work/built" >/dev/null 2>"$d/stderr"
      echo $? >"$d/rc"
      set -e
      [ -d "$work/built" ] && mv "$work/built" "$d/files"
    done
  done
}
echo "compare-outputs: building every model for every target with both" >&2
snapshot "$work/zlmc-base" "$work/base-out"
snapshot "$work/zlmc-new" "$work/new-out"
builds=$(find "$work/new-out" -name rc | wc -l)
if diff -r "$work/base-out" "$work/new-out"; then
  echo "identical: $builds builds ($(find "$work/new-out" -path '*/files/*' -type f | wc -l) files) against $base_rev"
else
  exit 1
fi
