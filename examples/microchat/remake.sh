#!/bin/sh
# Remakes examples/microchat/{tiny,small,medium}/ from tinychat's training
# text (z80ai's, beside the repository in ../shared) and prints the table of
# examples/microchat/README.md. Run from the repository root with a release build:
#   cargo build --release -p zlmc && examples/microchat/remake.sh
set -e
ZLMC=${ZLMC:-target/release/zlmc}
DATA=${DATA:-../shared/z80ai/tinychat/training-data.txt.gz}
for size in tiny small medium; do
    "$ZLMC" train "examples/microchat/$size.yaml" --data "$DATA" \
        --epochs 80 --patience 0 --quiet --force -o "examples/microchat/$size"
done
for board in uno lilypad; do
    "$ZLMC" compare examples/microchat/tiny/model.yaml \
        examples/microchat/small/model.yaml examples/microchat/medium/model.yaml \
        --data "$DATA" --target avr --board "$board"
done
