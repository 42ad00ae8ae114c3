#!/usr/bin/env bash
# The per-model table of issue 19: every real-model fixture of
# tests/fixtures/onnx/MANIFEST.tsv imported with `zlmc import onnx`
# (calibrated on its io.npz, whose `x_calib` holds unlabelled rows) at int8
# and at int4, then measured with `zlmc eval --data io.npz` (its `x`/`y` test
# rows). Prints a Markdown table: fixture, exporter, ops, float (what the
# framework measured, from the manifest; zlmc's own float reference beside it
# when it differs), int8, int4 — or the first line of the error where the
# importer or eval refuses the model. Needs only a built zlmc, no Python:
#
#     cargo build --release --bin zlmc && scripts/import-table.sh
#
# ZLMC=path/to/zlmc overrides which binary is run (default: the newest of
# $CARGO_TARGET_DIR or target/, release or debug). `--uno` adds a column:
# the int8 model's cycles per inference on the Arduino Uno (`zlmc eval
# --target avr --board uno`, simavr). Other arguments are fixture names, to
# run only those.
set -euo pipefail

uno=0
names=()
for a in "$@"; do
    case "$a" in
        --uno) uno=1 ;;
        -*) echo "import-table.sh: unknown option $a (usage: [--uno] [FIXTURE…])" >&2; exit 2 ;;
        *) names+=("$a") ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
fixtures="$root/tests/fixtures/onnx"
manifest="$fixtures/MANIFEST.tsv"

if [[ -z "${ZLMC:-}" ]]; then
    target="${CARGO_TARGET_DIR:-$root/target}"
    for b in "$target/release/zlmc" "$target/debug/zlmc"; do
        if [[ -x "$b" && ( -z "${ZLMC:-}" || "$b" -nt "$ZLMC" ) ]]; then
            ZLMC="$b"
        fi
    done
fi
if [[ -z "${ZLMC:-}" || ! -x "$ZLMC" ]]; then
    echo "import-table.sh: no zlmc binary; run \`cargo build --release --bin zlmc\` or set ZLMC" >&2
    exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# One table cell: no newlines, no column separators.
cell() {
    local s="${1//|/\\|}"
    printf '%s' "${s//$'\n'/ }"
}

# The first line of a failed command's output, without the leading file name.
first_error() {
    local line
    line="$(grep -m1 -v '^[[:space:]]*$' "$1" || true)"
    line="${line#"$fixtures"/}"
    line="${line#*: error: }"
    printf 'error: %s' "$line"
}

# The figure of an `eval` line `LABEL: FIGURE (…)` or `LABEL: FIGURE, …`.
figure() {
    local v="${1#*: }"
    v="${v%% (*}"
    printf '%s' "${v%%,*}"
}

# Import fixture folder $1's model at weight kind $2 and evaluate it; prints
# "RESULT<TAB>ZLMC_FLOAT" (the quantized figure, or the error, and the float
# reference's figure as eval reports it). The model stays in $tmp/KIND.
measure() {
    local model="$1" dir="$2" kind="$3"
    shift 3
    local out="$tmp/$kind"
    rm -rf "$out"
    if ! "$ZLMC" import onnx "$model" --calibrate "$dir/io.npz" --weights "$kind" "$@" \
        -o "$out" >"$tmp/log" 2>&1; then
        printf '%s\t\n' "$(first_error "$tmp/log")"
        return
    fi
    if ! "$ZLMC" eval "$out/model.yaml" --data "$dir/io.npz" >"$tmp/log" 2>&1; then
        printf '%s\t\n' "$(first_error "$tmp/log")"
        return
    fi
    # The first figure eval prints after the model's name is the integer
    # model's (accuracy, or an error measure for a values model).
    local result float
    result="$(grep -v '^model:' "$tmp/log" | grep -m1 -E '^[a-z][a-z ]*: ' || true)"
    float="$(grep -m1 '^float reference:' "$tmp/log" || true)"
    float="${float#float reference: }"
    printf '%s\t%s\n' "$(figure "$result")" "${float%%,*}"
}

# Cycles per inference of the model imported into $tmp/int8 on the Uno, or
# the error that stopped the measurement.
uno_cycles() {
    if [[ ! -f "$tmp/int8/model.yaml" ]]; then
        printf -- '-'
    elif ! "$ZLMC" eval "$tmp/int8/model.yaml" --data "$1/io.npz" --target avr --board uno \
        >"$tmp/log" 2>&1; then
        first_error "$tmp/log"
    else
        grep -m1 -oE '[0-9]+ cycles per inference' "$tmp/log" | sed 's/ per inference//' || true
    fi
}

if [[ $uno == 1 ]]; then
    echo "| fixture | exporter | ops | float | int8 | int4 | int8 Uno |"
    echo "|---|---|---|---|---|---|---|"
else
    echo "| fixture | exporter | ops | float | int8 | int4 |"
    echo "|---|---|---|---|---|---|"
fi
while IFS=$'\t' read -r name model exporter versions ops output float _command _note; do
    [[ "$name" == name ]] && continue
    if [[ ${#names[@]} -gt 0 && " ${names[*]} " != *" $name "* ]]; then
        continue
    fi
    dir="$fixtures/$name"
    rm -rf "$tmp/int8"
    # A PyTorch network's single output is a logit or a value: the user says
    # which (the other exporters' graphs say it themselves).
    kind=()
    if [[ "$exporter" == PyTorch* && ( "$output" == binary || "$output" == values ) ]]; then
        kind=(--output-kind "$output")
    fi
    IFS=$'\t' read -r int8 zfloat < <(measure "$fixtures/$model" "$dir" int8 "${kind[@]}")
    extra=""
    if [[ $uno == 1 ]]; then
        extra=" $(cell "$(uno_cycles "$dir")") |"
    fi
    IFS=$'\t' read -r int4 _ < <(measure "$fixtures/$model" "$dir" int4 "${kind[@]}")
    # The manifest's figure is "accuracy 97.33 %" or "MAE 0.4120".
    shown="${float#accuracy }"
    if [[ -n "$zfloat" && "${zfloat#accuracy }" != "$shown" ]]; then
        shown="$shown (zlmc float: ${zfloat})"
    fi
    echo "| $(cell "$name") ($(cell "$output")) | $(cell "$exporter") | $(cell "$ops") | $(cell "$shown") | $(cell "$int8") | $(cell "$int4") |$extra"
done <"$manifest"
