//! The inner loops: adding a value to the rows a nibble list names, and the
//! column routines built on them (see `stream.rs` for the coding).
//!
//! Register contract (all kernels): Z reads the stream, Y walks the
//! accumulators, r14:r15 hold the layer's accumulator base, x arrives in
//! r20:r21. Kernels clobber r0, r10–r13, r16–r23, Y, Z and T, and keep X,
//! r2–r9, r14, r15, r24 and r25 (the walkers' registers). r1 stays 0.

use super::asm::Asm;
use super::stream::{Format, END, SKIP};

/// Label of the column routine for a format and accumulator width in bytes.
pub fn kernel_label(format: Format, acc_bytes: usize) -> String {
    match format {
        Format::PlusMinus => format!(".Lk_pm{acc_bytes}"),
        Format::Grouped => format!(".Lk_gr{acc_bytes}"),
    }
}

/// Read-modify-write of the accumulator at Y: add the `bytes`-byte value in r20….
fn rmw_full(a: &mut Asm, bytes: usize) {
    let regs = ["r18", "r19", "r10", "r11"];
    let p = ["r20", "r21", "r22", "r23"];
    for (k, r) in regs.iter().enumerate().take(bytes) {
        if k == 0 {
            a.i(format!("ld {r}, Y"));
        } else {
            a.i(format!("ldd {r}, Y+{k}"));
        }
    }
    for k in 0..bytes {
        let op = if k == 0 { "add" } else { "adc" };
        a.i(format!("{op} {}, {}", regs[k], p[k]));
    }
    for (k, r) in regs.iter().enumerate().take(bytes) {
        if k == 0 {
            a.i(format!("st Y, {r}"));
        } else {
            a.i(format!("std Y+{k}, {r}"));
        }
    }
}

/// How a list adder changes an accumulator.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rmw {
    /// Add the `n`-byte value in r20….
    Full(usize),
    /// Add r20 (0..=255) to an int16; a carry into the high byte goes out of line.
    AddByte,
    /// Subtract r20 (0..=255) from an int16; a borrow goes out of line.
    SubByte,
}

impl Rmw {
    fn label(self) -> String {
        match self {
            Rmw::Full(n) => format!(".Lal{n}"),
            Rmw::AddByte => ".Lal_add".into(),
            Rmw::SubByte => ".Lal_sub".into(),
        }
    }

    fn bytes(self) -> usize {
        match self {
            Rmw::Full(n) => n,
            _ => 2,
        }
    }
}

/// A list adder: entry `LABEL` reads a fresh byte, `LABEL_lo` goes on with the
/// low nibble of r16. Returns at the list's end with T set if that end was a
/// high nibble (the low one not yet read).
fn add_list(a: &mut Asm, rmw: Rmw, lpm: &str) {
    let l = rmw.label();
    let bytes = rmw.bytes();
    let shifts = bytes.trailing_zeros();
    a.c(match rmw {
        Rmw::Full(n) => {
            format!("Add r20.. ({n} bytes) to the rows a nibble list names, from Y = row 0.")
        }
        Rmw::AddByte => {
            "Add r20 (< 256) to the int16 rows a nibble list names, from Y = row 0.".into()
        }
        Rmw::SubByte => {
            "Subtract r20 (< 256) from the int16 rows a nibble list names, from Y = row 0.".into()
        }
    });
    a.l(&l);
    a.i(format!("{lpm} r16, Z+"));
    // High nibble.
    a.i("mov r17, r16");
    a.i("swap r17");
    a.i("andi r17, 0x0F");
    a.i(format!("cpi r17, {SKIP}"));
    a.i(format!("brsh {l}_hs"));
    for _ in 0..shifts {
        a.i("lsl r17");
    }
    a.i("add r28, r17");
    a.i("adc r29, r1");
    update(a, rmw, &format!("{l}_c1"));
    a.l(format!("{l}_lo"));
    a.i("andi r16, 0x0F");
    a.i(format!("cpi r16, {SKIP}"));
    a.i(format!("brsh {l}_ls"));
    for _ in 0..shifts {
        a.i("lsl r16");
    }
    a.i("add r28, r16");
    a.i("adc r29, r1");
    update(a, rmw, &format!("{l}_c2"));
    a.i(format!("rjmp {l}"));
    // Flags still tell SKIP (equal) from END (higher).
    a.l(format!("{l}_hs"));
    a.i(format!("breq {l}_hskip"));
    a.c(format!("{END}: the list ends in a high nibble"));
    a.i("set");
    a.i("ret");
    a.l(format!("{l}_hskip"));
    a.i(format!("adiw r28, {}", SKIP as usize * bytes));
    a.i(format!("rjmp {l}_lo"));
    a.l(format!("{l}_ls"));
    a.i(format!("breq {l}_lskip"));
    a.i("clt");
    a.i("ret");
    a.l(format!("{l}_lskip"));
    a.i(format!("adiw r28, {}", SKIP as usize * bytes));
    a.i(format!("rjmp {l}"));
    if rmw != Rmw::Full(bytes) {
        // The rare carry or borrow into the high byte.
        let fix = if rmw == Rmw::AddByte { "inc" } else { "dec" };
        for (stub, back) in [("c1", format!("{l}_lo")), ("c2", l.clone())] {
            a.l(format!("{l}_{stub}"));
            a.i("ldd r18, Y+1");
            a.i(format!("{fix} r18"));
            a.i("std Y+1, r18");
            a.i(format!("rjmp {back}"));
        }
    }
}

/// The accumulator update at Y; `fix` is the out-of-line carry stub.
fn update(a: &mut Asm, rmw: Rmw, fix: &str) {
    match rmw {
        Rmw::Full(n) => rmw_full(a, n),
        Rmw::AddByte | Rmw::SubByte => {
            a.i("ld r18, Y");
            a.i(if rmw == Rmw::AddByte {
                "add r18, r20"
            } else {
                "sub r18, r20"
            });
            a.i("st Y, r18");
            a.i(format!("brcs {fix}"));
        }
    }
}

/// Negate the `bytes`-byte value in r20….
fn negate(a: &mut Asm, bytes: usize) {
    let p = ["r20", "r21", "r22", "r23"];
    for r in p[1..bytes].iter().rev() {
        a.i(format!("com {r}"));
    }
    a.i("neg r20");
    for r in &p[1..bytes] {
        a.i(format!("sbci {r}, 0xFF"));
    }
}

/// r22:r23 = the sign extension of r21.
fn sign_extend(a: &mut Asm) {
    a.i("clr r22");
    a.i("sbrc r21, 7");
    a.i("com r22");
    a.i("mov r23, r22");
}

/// The column routine for `format` and `bytes`-byte accumulators, with the
/// list adder it needs (emitted once per width by the caller).
fn column(a: &mut Asm, format: Format, bytes: usize, lpm: &str) {
    let k = kernel_label(format, bytes);
    let al = format!(".Lal{bytes}");
    match format {
        Format::PlusMinus => {
            a.c("Column: x to the + list's rows, -x to the - list's.");
            a.l(&k);
            if bytes == 2 {
                // 0 < x < 256, the common case after a ReLU: byte-wide updates.
                a.i("tst r21");
                a.i(format!("brne {k}_wide"));
                a.i("movw r28, r14");
                a.i("rcall .Lal_add");
                a.i("movw r28, r14");
                a.i(format!("brts {k}_slo"));
                a.i("rjmp .Lal_sub");
                a.l(format!("{k}_slo"));
                a.i("rjmp .Lal_sub_lo");
                a.l(format!("{k}_wide"));
            }
            if bytes == 4 {
                sign_extend(a);
            }
            a.i("movw r28, r14");
            a.i(format!("rcall {al}"));
            negate(a, bytes);
            a.i("movw r28, r14");
            a.i(format!("brts {k}_lo"));
            a.i(format!("rjmp {al}"));
            a.l(format!("{k}_lo"));
            a.i(format!("rjmp {al}_lo"));
        }
        Format::Grouped => {
            a.c("Column: per group, a weight v and the rows that take x*v; 0 ends it.");
            a.l(&k);
            a.i("movw r12, r20");
            a.l(format!("{k}_g"));
            a.i(format!("{lpm} r17, Z+"));
            a.i("tst r17");
            a.i(format!("brne {k}_v"));
            a.i("ret");
            a.l(format!("{k}_v"));
            if bytes == 2 {
                // x*v mod 2^16 from unsigned products; a negative v is v+256.
                a.i("mul r12, r17");
                a.i("movw r20, r0");
                a.i("mul r13, r17");
                a.i("add r21, r0");
                a.i("sbrc r17, 7");
                a.i("sub r21, r12");
            } else {
                // x*v = v*xl + (v*xh << 8), signed.
                a.i("movw r18, r12");
                a.i("mulsu r17, r18");
                a.i("movw r20, r0");
                sign_extend(a);
                a.i("muls r17, r19");
                a.i("mov r18, r1");
                a.i("lsl r18");
                a.i("sbc r18, r18");
                a.i("add r21, r0");
                a.i("adc r22, r1");
                a.i("adc r23, r18");
            }
            a.i("clr r1");
            a.i("movw r28, r14");
            a.i(format!("rcall {al}"));
            a.i(format!("rjmp {k}_g"));
        }
    }
}

/// Every kernel the layers use, given as (format, accumulator bytes) pairs.
pub fn kernels(a: &mut Asm, used: &[(Format, usize)], lpm: &str) {
    let mut widths: Vec<usize> = used.iter().map(|u| u.1).collect();
    widths.sort_unstable();
    widths.dedup();
    for w in widths {
        add_list(a, Rmw::Full(w), lpm);
    }
    if used.contains(&(Format::PlusMinus, 2)) {
        add_list(a, Rmw::AddByte, lpm);
        add_list(a, Rmw::SubByte, lpm);
    }
    let mut kinds: Vec<(Format, usize)> = Vec::new();
    for &u in used {
        if !kinds.contains(&u) {
            kinds.push(u);
        }
    }
    for (f, w) in kinds {
        column(a, f, w, lpm);
    }
}
