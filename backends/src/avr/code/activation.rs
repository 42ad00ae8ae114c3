//! A layer's activation on its int16 output in r18:r19, in place, bit for
//! bit with `Activation::apply`: ReLU and a clamp by comparisons, a leaky
//! ReLU's negative side by a 16×8 product on the multiplier, a lookup table
//! read from flash.

use crate::avr::activation::{leaky_shifts_left, lut_form, LutForm};
use crate::avr::buffer::Buffer;
use crate::avr::build::{dec, hex, hh8, hi, hi8, lo, lo8};
use crate::avr::inst::{Io, R0, R1, R10, R11, R16, R18, R19, R2, R30, R31, R4, R6};
use crate::lowered::Activation;

use super::Gen;

impl Gen<'_> {
    /// Layer k's activation `act` of the int16 in r18:r19 (labels `.L{tag}_…`).
    /// ReLU and a clamp at 0 move r2:r3 (= 0, see
    /// [`crate::avr::activation::needs_zero`]) over a negative output.
    /// Clobbers r0, r10, r11, r16, r17 (r1 ends 0) and, for a lookup table,
    /// Z and RAMPZ, unless `keep_z`: then they are kept in r4:r5 and r6.
    pub(super) fn activate(
        &self,
        a: &mut Buffer,
        act: &Activation,
        k: usize,
        tag: &str,
        keep_z: bool,
    ) {
        self.activate_sym(a, act, &format!("{}_l{k}_act", self.p), tag, keep_z);
    }

    /// [`Self::activate`] with a lookup table at `sym`.
    pub(super) fn activate_sym(
        &self,
        a: &mut Buffer,
        act: &Activation,
        sym: &str,
        tag: &str,
        keep_z: bool,
    ) {
        match act {
            Activation::Relu => relu(a),
            Activation::Clamp { lo: l, hi: h } => clamp(a, *l, *h, tag),
            Activation::LeakyRelu { mul, shift } => leaky(a, *mul, *shift, tag),
            Activation::Lut { lo: l, table } => self.lookup(a, *l, table, sym, tag, keep_z),
        }
    }

    /// `table[clamp(x - lo, 0, len - 1)]` from the table at `sym`.
    fn lookup(&self, a: &mut Buffer, base: i16, table: &[i16], sym: &str, tag: &str, keep: bool) {
        let len = table.len();
        let b = base as u16 as u32;
        // x - lo in 17 bits: the flags of the 16-bit subtraction say whether
        // it is negative (index 0); otherwise it is r18:r19, unsigned.
        a.subi(R18, lo(b));
        a.sbci(R19, hi(b));
        a.brge(format!(".L{tag}_in"));
        a.clr(R18);
        a.clr(R19);
        a.label(format!(".L{tag}_in"));
        if len == 256 {
            a.tst(R19);
        } else {
            a.cpi(R18, dec(len));
            a.cpc(R19, R1);
        }
        let fits = format!(".L{tag}_at");
        if len == 256 {
            a.breq(&fits);
        } else {
            a.brlo(&fits);
        }
        a.ldi(R18, dec(len - 1));
        a.label(&fits);
        if keep {
            a.movw(R4, R30);
            if self.far {
                a.input(R6, Io::Rampz);
            }
        }
        if self.far {
            a.ldi(R30, hh8(sym));
            a.out(Io::Rampz, R30);
        }
        a.ldi(R30, lo8(sym));
        a.ldi(R31, hi8(sym));
        let form = lut_form(table);
        if form == LutForm::Words {
            a.clr(R19);
            a.lsl(R18);
            a.rol(R19);
            a.add(R30, R18);
            a.adc(R31, R19);
        } else {
            a.add(R30, R18);
            a.adc(R31, R1);
        }
        self.z_carry(a);
        match form {
            LutForm::Words => {
                self.lpm(a, R18, true);
                self.lpm(a, R19, false);
            }
            LutForm::Signed => {
                self.lpm(a, R18, false);
                a.mov(R19, R18);
                a.lsl(R19);
                a.sbc(R19, R19);
            }
            LutForm::Unsigned => {
                self.lpm(a, R18, false);
                a.clr(R19);
            }
        }
        if keep {
            a.movw(R30, R4);
            if self.far {
                a.out(Io::Rampz, R6);
            }
        }
    }
}

/// ReLU: r2:r3 (= 0) over a negative output.
pub(super) fn relu(a: &mut Buffer) {
    a.sbrc(R19, 7);
    a.movw(R18, R2);
}

/// `min(max(x, lo), hi)`; a bound at the end of int16's range costs nothing.
fn clamp(a: &mut Buffer, l: i16, h: i16, tag: &str) {
    match l {
        0 => relu(a),
        i16::MIN => {}
        _ => {
            let v = l as u16 as u32;
            compare(a, v);
            a.brge(format!(".L{tag}_lo"));
            a.ldi(R18, lo(v));
            a.mov(R19, R16);
            a.label(format!(".L{tag}_lo"));
        }
    }
    if h != i16::MAX {
        // x < hi + 1 stays.
        let above = (h as i32 + 1) as u16 as u32;
        let v = h as u16 as u32;
        compare(a, above);
        a.brlt(format!(".L{tag}_hi"));
        a.ldi(R18, lo(v));
        a.ldi(R19, hi(v));
        a.label(format!(".L{tag}_hi"));
    }
}

/// Compare r19:r18 with the 16-bit constant `v` (signed), leaving its high
/// byte in r16 for a bound to reuse.
fn compare(a: &mut Buffer, v: u32) {
    a.cpi(R18, lo(v));
    a.ldi(R16, hi(v));
    a.cpc(R19, R16);
}

/// `x` if `x ≥ 0`, else `(x·mul) >> shift` (rounding toward −∞): the 24-bit
/// product P = x·mul (|x·mul| < 2^23) from `mulsu` of the high byte and `mul`
/// of the low one, then shifted whichever way is shorter.
fn leaky(a: &mut Buffer, mul: u8, shift: u8, tag: &str) {
    let done = format!(".L{tag}_pos");
    a.sbrs(R19, 7);
    a.rjmp(&done);
    a.ldi(R16, hex(mul));
    // r10:r11 = xh·mul (signed), then r1:r0 = xl·mul (unsigned).
    a.mulsu(R19, R16);
    a.movw(R10, R0);
    a.mul(R18, R16);
    // P = r11:r10:r0 with r10 += r1 and its carry into r11 (clr keeps C).
    a.add(R10, R1);
    a.clr(R1);
    a.adc(R11, R1);
    if shift >= 8 {
        // P >> 8 is r11:r10; the low byte only rounds toward −∞ away.
        a.movw(R18, R10);
        for _ in 8..shift {
            a.asr(R19);
            a.ror(R18);
        }
    } else if leaky_shifts_left(shift) {
        // (P << (8 - shift)) >> 8: the upper two bytes.
        for _ in shift..8 {
            a.lsl(R0);
            a.rol(R10);
            a.rol(R11);
        }
        a.movw(R18, R10);
    } else {
        a.mov(R18, R0);
        for _ in 0..shift {
            a.asr(R11);
            a.ror(R10);
            a.ror(R18);
        }
        a.mov(R19, R10);
    }
    a.label(&done);
}
