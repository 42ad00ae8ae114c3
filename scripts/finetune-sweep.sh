#!/usr/bin/env bash
# Issue 20's digits bounds over every dense digits classifier among the ONNX
# fixtures, not only the two models tests/train_digits.rs checks: each is
# imported as int8, compressed four ways with `--finetune` (defaults unless
# extra flags are given), and its test accuracy compared with its float
# model's. Prints one line per model and compression, then per compression
# the mean change and the models beyond the issue's bounds (1 point; 3 for
# binary). Needs python3 with numpy, or $PYTHON (the PyTorch and Keras fixtures take
# pixels / 16, so their data is the fixture's divided by 16).
#
#   scripts/finetune-sweep.sh [EXTRA COMPRESS FLAGS...]
set -euo pipefail
extra=("$@")
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release -q -p zlmc --manifest-path "$root/Cargo.toml"
zlmc="$root/target/release/zlmc"
raw="$root/tests/fixtures/train/digits_train.npz"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" - "$raw" "$work/digits16.npz" <<'PY'
import sys
import numpy as np
d = dict(np.load(sys.argv[1]))
np.savez(sys.argv[2], **{k: v / np.float32(16) if k.startswith("x") else v for k, v in d.items()})
PY
models=()
for m in "$root"/tests/fixtures/onnx/*/model.onnx; do
  n="$(basename "$(dirname "$m")")"
  # Dense classifiers of the ten digits only (prune-neurons and the bounds
  # are about those).
  case "$n" in *conv*|*gap*|*depthwise*|*binary*|*regression*|*regressor*|skl_string_labels|torch_default) continue ;; esac
  models+=("$m")
done
models+=("$root/examples/digits/digits.onnx" "$root/tests/fixtures/train/digits_wide.onnx")
for m in "${models[@]}"; do
  n="$(basename "$(dirname "$m")")"
  case "$m" in */examples/digits/*) n=digits ;; */train/digits_wide.onnx) n=digits_wide ;; esac
  case "$n" in torch_* | keras_*) data="$work/digits16.npz" ;; *) data="$raw" ;; esac
  case "$n" in *normalization*) data="$raw" ;; esac
  if ! "$zlmc" import onnx "$m" --calibrate "$data" -o "$work/$n" --weights int8 >/dev/null 2>"$work/err"; then
    echo "skipped $n: $(head -n 1 "$work/err")" >&2
    continue
  fi
  float="$("$zlmc" eval "$work/$n/float.yaml" --data "$data" | sed -n 's/^accuracy: \([0-9.]*\) %.*/\1/p')"
  for how in "prune-neurons 0.5" "sparsity 0.7" "weights ternary" "weights binary"; do
    read -r flag value <<<"$how"
    got="$("$zlmc" compress "$work/$n/model.yaml" -o "$work/$n-$flag-$value" --data "$data" \
      --"$flag" "$value" --finetune --quiet "${extra[@]}" | sed -n 's/.*-> \([0-9.]*\) %.*/\1/p')"
    echo "$n $flag-$value $float $got"
  done
done | tee "$work/rows" | awk '{ printf "%-32s %-18s float %6.2f %%  finetuned %6.2f %%  %+.2f\n", $1, $2, $3, $4, $4 - $3 }'
awk '{
  d = $4 - $3; n[$2]++; s[$2] += d
  bound = ($2 == "weights-binary") ? 3 : 1
  if (d < -bound) { miss[$2] = miss[$2] " " $1 sprintf("(%+.2f)", d); k[$2]++ }
} END {
  for (h in n) printf "%-18s mean %+.2f points, %d of %d beyond the bound:%s\n", h, s[h] / n[h], k[h], n[h], miss[h]
}' "$work/rows" | sort
