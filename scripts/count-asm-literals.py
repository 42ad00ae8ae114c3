#!/usr/bin/env python3
"""Count string literals in backends/src that begin with an assembly mnemonic.

Issue 8's measure of how much assembly is written as text: a literal whose
text, after leading blanks, starts with a Z80 or AVR mnemonic followed by a
blank, a comma or the end. `--list` prints each one with its file and line.
"""
import os
import re
import sys

Z80 = """adc add and bit call ccf cp cpd cpdr cpi cpir cpl daa dec di djnz ei ex exx
halt im in inc ind indr ini inir jp jr ld ldd lddr ldi ldir neg nop or otdr otir
out outd outi pop push res ret reti retn rl rla rlc rlca rld rr rra rrc rrca rrd
rst sbc scf set sla sll sra srl sub xor""".split()
AVR = """adc add adiw and andi asr bclr bld brbc brbs brcc brcs breq brge brhc brhs
brid brie brlo brlt brmi brne brpl brsh brtc brts brvc brvs bset bst call cbi cbr
clc clh cli cln clr cls clt clv clz com cp cpc cpi cpse dec elpm eor fmul fmuls
fmulsu icall ijmp in inc jmp ld ldd ldi lds lpm lsl lsr mov movw mul muls mulsu
neg nop or ori out pop push rcall ret reti rjmp rol ror sbc sbci sbi sbic sbis
sbiw sbr sbrc sbrs sec seh sei sen ser ses set sev sez sleep spm st std sts sub
subi swap tst wdr""".split()
MNEMONICS = set(Z80) | set(AVR)
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
START = re.compile(r"^\s*([a-z]+)(?:[\s,]|\\n|$)")


def main() -> int:
    root = os.path.join(os.path.dirname(__file__), "..", "backends", "src")
    listing = "--list" in sys.argv
    total = 0
    per_file = {}
    for dirpath, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if line.lstrip().startswith("//"):
                        continue
                    for m in LITERAL.finditer(line):
                        s = START.match(m.group(1))
                        if s and s.group(1) in MNEMONICS:
                            total += 1
                            rel = os.path.relpath(path, os.path.join(root, "..", ".."))
                            per_file[rel] = per_file.get(rel, 0) + 1
                            if listing:
                                print(f"{rel}:{lineno}: {m.group(0)}")
    for rel, n in sorted(per_file.items()):
        print(f"{n:5} {rel}")
    print(f"{total:5} total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
