//! The inner loops: adding a value to the rows a nibble list names, and the
//! column routines built on them (see `coding.rs` for the coding).
//!
//! Register contract (all kernels): Z reads the coded layer, Y walks the
//! accumulators, r14:r15 hold the layer's accumulator base, x arrives in
//! r20:r21. Kernels clobber r0, r10–r13, r16–r23, Y, Z and T, and keep X,
//! r2–r9, r14, r15, r24 and r25 (the walkers' registers). r1 stays 0.

use super::buffer::Buffer;
use super::build::{dec, hex};
use super::coding::{Coding, END, SKIP};
use super::inst::Ptr::Y;
use super::inst::{
    MInst, Op1, Op2, Reg, R0, R1, R10, R11, R12, R13, R14, R16, R17, R18, R19, R20, R21, R22, R23,
    R28, R29,
};

/// Label of the column routine for a coding and accumulator width in bytes.
pub fn kernel_label(coding: Coding, acc_bytes: usize) -> String {
    match coding {
        Coding::PlusMinus => format!(".Lk_pm{acc_bytes}"),
        // Dense layers have kernels of their own (dense.rs) and never ask.
        Coding::Grouped | Coding::Dense8 | Coding::Dense4 => format!(".Lk_gr{acc_bytes}"),
    }
}

/// Read-modify-write of the accumulator at Y: add the `bytes`-byte value in r20….
fn rmw_full(a: &mut Buffer, bytes: usize) {
    let regs = [R18, R19, R10, R11];
    let p = [R20, R21, R22, R23];
    for (k, r) in regs.iter().enumerate().take(bytes) {
        if k == 0 {
            a.ld(*r, Y);
        } else {
            a.ldd(*r, k as u8);
        }
    }
    for k in 0..bytes {
        let op = if k == 0 { Op2::Add } else { Op2::Adc };
        a.inst(MInst::RR {
            op,
            rd: regs[k],
            rr: p[k],
        });
    }
    for (k, r) in regs.iter().enumerate().take(bytes) {
        if k == 0 {
            a.st(Y, *r);
        } else {
            a.std(k as u8, *r);
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
fn add_list(a: &mut Buffer, rmw: Rmw, far: bool) {
    let l = rmw.label();
    let bytes = rmw.bytes();
    a.comment(match rmw {
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
    // Two bytes a turn of the loop, so the jump back comes every four nibbles.
    let second = format!("{l}_b2");
    for (copy, next) in [("", &second), ("2", &l)] {
        a.label(if copy.is_empty() {
            l.clone()
        } else {
            second.clone()
        });
        a.lpm(far, R16, true);
        // High nibble.
        a.mov(R17, R16);
        a.swap(R17);
        nibble(
            a,
            rmw,
            R17,
            &format!("{l}_h{copy}s"),
            &format!("{l}_c1{copy}"),
        );
        a.label(format!("{l}_lo{copy}"));
        nibble(
            a,
            rmw,
            R16,
            &format!("{l}_l{copy}s"),
            &format!("{l}_c2{copy}"),
        );
        if copy == "2" {
            a.rjmp(next);
        }
    }
    for (copy, next) in [("", &second), ("2", &l)] {
        special(
            a,
            &format!("{l}_h{copy}"),
            rmw,
            true,
            &format!("{l}_lo{copy}"),
        );
        special(a, &format!("{l}_l{copy}"), rmw, false, next);
    }
    if rmw != Rmw::Full(bytes) {
        // The rare carry or borrow into the high byte.
        let op = if rmw == Rmw::AddByte {
            Op1::Inc
        } else {
            Op1::Dec
        };
        for (stub, back) in [
            ("c1", format!("{l}_lo")),
            ("c2", second.clone()),
            ("c12", format!("{l}_lo2")),
            ("c22", l.clone()),
        ] {
            a.label(format!("{l}_{stub}"));
            a.ldd(R18, 1);
            a.inst(MInst::R { op, rd: R18 });
            a.std(1, R18);
            a.rjmp(&back);
        }
    }
}

/// One gap nibble in `r` (the low nibble; the high one already swapped):
/// to `special` if it is SKIP or END, else Y moves on and the row is updated.
fn nibble(a: &mut Buffer, rmw: Rmw, r: Reg, special: &str, fix: &str) {
    a.andi(r, hex(0x0F));
    a.cpi(r, dec(SKIP as usize));
    a.brsh(special);
    for _ in 0..rmw.bytes().trailing_zeros() {
        a.lsl(r);
    }
    a.add(R28, r);
    a.adc(R29, R1);
    update(a, rmw, fix);
}

/// The SKIP or END nibble at `{tag}s` (flags still tell SKIP, equal, from
/// END, higher): END returns with T = `high` (the list ended in a high
/// nibble); SKIP moves Y on and goes on at `next`.
fn special(a: &mut Buffer, tag: &str, rmw: Rmw, high: bool, next: &str) {
    let bytes = rmw.bytes();
    a.label(format!("{tag}s"));
    a.breq(format!("{tag}skip"));
    match rmw {
        Rmw::AddByte => {
            // The + list of a byte-wide column: its - list follows at once.
            a.comment(format!("{END}: the - list, from row 0, in the next nibble"));
            a.movw(R28, R14);
            a.rjmp(if high { ".Lal_sub_lo" } else { ".Lal_sub" });
        }
        Rmw::SubByte => a.ret(),
        Rmw::Full(_) => {
            if high {
                a.comment(format!("{END}: the list ends in a high nibble"));
                a.set();
            } else {
                a.clt();
            }
            a.ret();
        }
    }
    a.label(format!("{tag}skip"));
    a.adiw(R28, SKIP * bytes as u8);
    a.rjmp(next);
}

/// The accumulator update at Y; `fix` is the out-of-line carry stub.
fn update(a: &mut Buffer, rmw: Rmw, fix: &str) {
    match rmw {
        Rmw::Full(n) => rmw_full(a, n),
        Rmw::AddByte | Rmw::SubByte => {
            a.ld(R18, Y);
            if rmw == Rmw::AddByte {
                a.add(R18, R20);
            } else {
                a.sub(R18, R20);
            }
            a.st(Y, R18);
            a.brcs(fix);
        }
    }
}

/// Negate the `bytes`-byte value in r20….
fn negate(a: &mut Buffer, bytes: usize) {
    let p = [R20, R21, R22, R23];
    for r in p[1..bytes].iter().rev() {
        a.com(*r);
    }
    a.neg(R20);
    for r in &p[1..bytes] {
        a.sbci(*r, hex(0xFF));
    }
}

/// r22:r23 = the sign extension of r21.
fn sign_extend(a: &mut Buffer) {
    a.clr(R22);
    a.sbrc(R21, 7);
    a.com(R22);
    a.mov(R23, R22);
}

/// The column routine for `coding` and `bytes`-byte accumulators, with the
/// list adder it needs (emitted once per width by the caller).
fn column(a: &mut Buffer, coding: Coding, bytes: usize, far: bool) {
    let k = kernel_label(coding, bytes);
    let al = format!(".Lal{bytes}");
    match coding {
        Coding::PlusMinus => {
            a.comment("Column: x to the + list's rows, -x to the - list's.");
            a.label(&k);
            if bytes == 2 {
                // 0 < x < 256, the common case after a ReLU: byte-wide updates.
                a.tst(R21);
                a.brne(format!("{k}_wide"));
                // The + list's end goes on to the - list, whose end returns.
                a.movw(R28, R14);
                a.rjmp(".Lal_add");
                a.label(format!("{k}_wide"));
            }
            if bytes == 4 {
                sign_extend(a);
            }
            a.movw(R28, R14);
            a.rcall(&al);
            negate(a, bytes);
            a.movw(R28, R14);
            a.brts(format!("{k}_lo"));
            a.rjmp(&al);
            a.label(format!("{k}_lo"));
            a.rjmp(format!("{al}_lo"));
        }
        Coding::Grouped | Coding::Dense8 | Coding::Dense4 => {
            a.comment("Column: per group, a weight v and the rows that take x*v; 0 ends it.");
            a.label(&k);
            a.movw(R12, R20);
            a.label(format!("{k}_g"));
            a.lpm(far, R17, true);
            a.tst(R17);
            a.brne(format!("{k}_v"));
            a.ret();
            a.label(format!("{k}_v"));
            if bytes == 2 {
                // x*v mod 2^16 from unsigned products; a negative v is v+256.
                a.mul(R12, R17);
                a.movw(R20, R0);
                a.mul(R13, R17);
                a.add(R21, R0);
                a.sbrc(R17, 7);
                a.sub(R21, R12);
            } else {
                // x*v = v*xl + (v*xh << 8), signed.
                a.movw(R18, R12);
                a.mulsu(R17, R18);
                a.movw(R20, R0);
                sign_extend(a);
                a.muls(R17, R19);
                a.mov(R18, R1);
                a.lsl(R18);
                a.sbc(R18, R18);
                a.add(R21, R0);
                a.adc(R22, R1);
                a.adc(R23, R18);
            }
            a.clr(R1);
            a.movw(R28, R14);
            a.rcall(&al);
            a.rjmp(format!("{k}_g"));
        }
    }
}

/// Every kernel the layers use, given as (coding, accumulator bytes) pairs.
pub fn kernels(a: &mut Buffer, used: &[(Coding, usize)], far: bool) {
    let mut widths: Vec<usize> = used.iter().map(|u| u.1).collect();
    widths.sort_unstable();
    widths.dedup();
    for w in widths {
        add_list(a, Rmw::Full(w), far);
    }
    if used.contains(&(Coding::PlusMinus, 2)) {
        add_list(a, Rmw::AddByte, far);
        add_list(a, Rmw::SubByte, far);
    }
    let mut kinds: Vec<(Coding, usize)> = Vec::new();
    for &u in used {
        if !kinds.contains(&u) {
            kinds.push(u);
        }
    }
    for (f, w) in kinds {
        column(a, f, w, far);
    }
}
