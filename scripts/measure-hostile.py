#!/usr/bin/env python3
"""Time and peak memory of zlmc on hostile inputs of up to 1 MB (issue 12).

Writes worst cases the tests know of, each close to 1 MB, into a scratch
folder, then runs `zlmc build` for every target and `zlmc run --prompt` on
each, reporting wall time, peak resident memory and the exit code. It checks
the issue's bound (2 s, 256 MB, exit 0, 1 or 2) and exits 1 if one is missed.

    cargo build --release -p zlmc && scripts/measure-hostile.py [path/to/zlmc]

Only the standard library: it runs where the tests run.
"""

import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile

LIMIT_S = 2.0
LIMIT_KB = 256 * 1024
MB = 1 << 20


def dense_raw_zir(n_in, n_out):
    """A raw-input model whose dense weights fill about 1 MB of text."""
    rng = random.Random(1)
    rows = "".join(
        "  [" + " ".join(str(rng.choice([-3, -1, 1, 2, 5])) for _ in range(n_in)) + "]\n"
        for _ in range(n_out)
    )
    labels = ", ".join(f'"c{i}"' for i in range(n_out))
    return (
        f'zir 1\nmodel "big"\nencode raw(length: {n_in})\ndecode classify(labels: [{labels}])\n\n'
        f"%0 = input : i16[{n_in}]\n%1 = matmul %0, dense int8[{n_out}, {n_in}] [\n{rows}]"
        f", acc i16 : i16[{n_out}]\n%2 = argmax %1 : index\n"
    )


def longest_reply_zir():
    """A text model at the reply-work limit: every step generates, 32,768 steps."""
    row = "  [" + " ".join(["1"] * 64) + "]\n"
    return (
        'zir 1\nmodel "w"\nencode query_trigram(buckets: 64, value: 32)\n'
        'decode generate(charset: "abcdefghijklmnopqrstuvwxyz012345", eos: 31, max_length: 32768)\n\n'
        "%0 = input : i16[64]\n%1 = matmul %0, dense int8[32, 64] [\n"
        + row * 32
        + "], acc i16 : i16[32]\n%2 = argmax %1 : index\n"
    )


def unfitting_text_zir():
    """A five-layer z80ai-style text model of about 1 MB that fits no Z80
    machine: the Z80 targets try their ways of keeping its records first."""
    rng = random.Random(3)
    widths = [256, 640, 512, 384, 256, 40]
    out = ['zir 1', 'model "big5"', "encode query_trigram(buckets: 128, value: 32)",
           "encode context_ngram(buckets: 128, length: 8, value: 32)",
           'decode generate(charset: "abcdefghijklmnopqrstuvwxyz .,?!012345678", eos: 39, max_length: 8)',
           "", "%0 = input : i16[256]"]
    v = 0
    for k in range(5):
        n_in, n_out = widths[k], widths[k + 1]
        out.append(f"%{v + 1} = matmul %{v}, sparse int2[{n_out}, {n_in}] [")
        for _ in range(n_out):
            row = [f"{c}:{rng.choice([-2, -1, 1])}" for c in range(n_in) if rng.random() < 0.2]
            out.append("  [" + " ".join(row or ["0:1"]) + "]")
        out.append(f"], acc i16 : i16[{n_out}]")
        relu = ", relu" if k < 4 else ""
        out.append(f"%{v + 2} = epilogue %{v + 1}, bias [{', '.join(['0'] * n_out)}], shift 2{relu} : i16[{n_out}]")
        v += 2
    out.append(f"%{v + 1} = argmax %{v} : index")
    return "\n".join(out) + "\n"


def cases(dir):
    """(name, spec path, prompt) for each hostile input written into `dir`."""
    out = []

    def put(name, data):
        p = os.path.join(dir, name)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return p

    big = dense_raw_zir(2048, 200)
    assert len(big) <= MB, len(big)
    out.append(("dense 2048x200 .zir", put("big.zir", big), " ".join(["3"] * 2048)))
    out.append(("longest reply .zir", put("reply.zir", longest_reply_zir()), "x"))
    unfitting = unfitting_text_zir()
    assert len(unfitting) <= MB, len(unfitting)
    out.append(("five-layer text model fitting no Z80 .zir", put("big5.zir", unfitting), "hello"))
    out.append(("huge declared vector .zir", put("huge.zir", dense_raw_zir(4, 1).replace(
        "i16[4]", "i16[1000000000]").replace("length: 4", "length: 1000000000")), "1"))
    depth = MB // 2 - 64
    out.append(("YAML nested 512K deep", put("nested.yaml", "zlmc: 1\nname: " + "[" * depth + "]" * depth + "\n"), "x"))
    out.append(("1 MB of junk .yaml", put("junk.yaml", bytes(random.Random(2).randrange(256) for _ in range(MB))), "x"))
    # An .npz whose one entry inflates far past its file size.
    bomb = os.path.join(dir, "bomb.npz")
    header = b"{'descr': '|i1', 'fortran_order': False, 'shape': (300000000,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("l1_w.npy", "w", force_zip64=True) as f:
            f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
            zero = bytes(MB)
            for _ in range(300):
                f.write(zero)
    spec = "zlmc: 1\nname: bomb\nweights: bomb.npz\ninput:\n  - raw: {size: 4}\nlayers:\n  - {name: l1, units: 2}\noutput:\n  classify: [a, b]\n"
    out.append(("inflating .npz entry", put("bomb.yaml", spec), "1 2 3 4"))
    return out


def measure(argv):
    """Wall seconds, peak resident KB and exit code of one command."""
    t = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    return time.monotonic() - t, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def main():
    zlmc = sys.argv[1] if len(sys.argv) > 1 else "target/release/zlmc"
    targets = [("c", []), ("z80", []), ("zx48", []), ("avr", ["--board", "mega2560"])]
    bad = 0
    worst_s, worst_kb = 0.0, 0
    with tempfile.TemporaryDirectory(prefix="zlmc-hostile-") as dir:
        for name, spec, prompt in cases(dir):
            size = os.path.getsize(spec)
            runs = [(f"build {t}", ["build", spec, "--target", t, *extra, "-o", os.path.join(dir, "out-" + t)])
                    for t, extra in targets]
            runs.append(("run", ["run", spec, "--prompt", prompt]))
            for what, args in runs:
                s, kb, code = measure([zlmc, *args])
                worst_s, worst_kb = max(worst_s, s), max(worst_kb, kb)
                ok = s <= LIMIT_S and kb <= LIMIT_KB and code in (0, 1, 2)
                bad += not ok
                print(f"{'ok ' if ok else 'BAD'} {name} ({size} bytes), {what}: {s:.2f} s, {kb / 1024:.0f} MB, exit {code}")
    print(f"slowest {worst_s:.2f} s, peak {worst_kb / 1024:.0f} MB; {bad} over the bound")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
