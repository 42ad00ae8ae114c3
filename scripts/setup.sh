#!/usr/bin/env bash
# Installs what zlmc's tests need on a fresh Debian machine (run as root).
# Host C compiler for the C backend's tests; avr-gcc and avr-libc to check that
# the generated C also builds for AVR, with its tables in flash; simavr to run it,
# and libsimavr-dev for the harness zlmc builds against libsimavr to run AVR
# firmware with scripted serial input, cycle counts per step and stack depth;
# arduino-core-avr (the Arduino core and boards.txt) and arduino-mk (its
# command-line makefile; it pulls in make and the arduino package) to build the
# generated Arduino sketches for the Uno, Nano, LilyPad and Mega 2560;
# z80asm and pasmo, the Z80 assemblers users have, to check the Z80 output;
# fuse-emulator-utils for tzxlist, which lists the ZX Spectrum tapes;
# opense-basic for OpenSE BASIC, the free 48K ROM the Spectrum tests run.
set -euo pipefail
packages=(gcc gcc-avr avr-libc simavr libsimavr-dev arduino-core-avr arduino-mk z80asm pasmo fuse-emulator-utils opense-basic)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
