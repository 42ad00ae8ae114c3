//! The model's code as avr-gcc assembly: the generator's state ([`Gen`]),
//! the helpers every part uses, and the order the parts are emitted in. The
//! parts: the layer walks and epilogues (`layers.rs`), the text encoders'
//! hashing (`text.rs`) and the C API entry points (`api.rs`).
//!
//! Registers (see docs/avr.md): r1 = 0, r0 scratch; in a layer walk X reads
//! the inputs, Z the coded layer, r24:r25 count columns and r14:r15 hold
//! the accumulator base; kernels add into the accumulators through Y (see
//! `kernels.rs`). The entry points save every call-saved register they touch.

mod activation;
mod api;
mod conv;
mod layers;
mod text;

use super::buffer::Buffer;
use super::build::{hex, hh8, hi, hi8, lo, lo8};
use super::conv::Stage;
use super::inst::{
    Io, Reg, Sym, R0, R1, R10, R11, R12, R13, R14, R15, R16, R17, R2, R24, R25, R28, R29, R3, R30,
    R31, R4, R5, R6, R7, R8, R9,
};
use super::plan::Allocation;
use crate::lowered::FusedLayer;

/// What the code generator needs to know about the model.
pub struct Gen<'a> {
    /// Symbol prefix (the model name).
    pub p: &'a str,
    /// The conv and pool layers before the dense ones (none for a dense model).
    pub front: &'a [Stage],
    /// The dense layers.
    pub layers: &'a [FusedLayer],
    /// What the plan allocated: each layer's coding and coded layer, the buffers.
    pub allocation: &'a Allocation,
    /// Whether tables are read with `elpm` (flash beyond 64 KB).
    pub far: bool,
    /// For generators: end-of-sequence class and longest reply.
    pub generate: Option<(usize, usize)>,
    /// Whether the model is a classifier (has labels).
    pub classify: bool,
    /// Whether every encoder reads text (`NAME_encode`, `NAME_classify`).
    pub text_api: bool,
    /// Length of the input vector.
    pub inputs: usize,
}

/// The call-saved registers the entry points save.
const SAVED: [Reg; 18] = [
    R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13, R14, R15, R16, R17, R28, R29,
];

impl Gen<'_> {
    /// `lpm rd, Z` (`Z+` if `inc`); `elpm` where flash is far.
    fn lpm(&self, a: &mut Buffer, rd: Reg, inc: bool) {
        a.lpm(self.far, rd, inc);
    }

    /// Z (and RAMPZ where flash is far) = the flash address of `sym`.
    fn load_z(&self, a: &mut Buffer, sym: &str) {
        if self.far {
            a.ldi(R30, hh8(sym));
            a.out(Io::Rampz, R30);
        }
        a.ldi(R30, lo8(sym));
        a.ldi(R31, hi8(sym));
    }

    /// Carry of an add to Z into RAMPZ (far flash only).
    fn z_carry(&self, a: &mut Buffer) {
        if self.far {
            a.input(R0, Io::Rampz);
            a.adc(R0, R1);
            a.out(Io::Rampz, R0);
        }
    }

    /// The start of the C function `NAME_name`: a blank line, the comments,
    /// its symbol, global, then its label.
    fn entry(&self, a: &mut Buffer, name: &str, comments: &[&str]) {
        let p = self.p;
        a.blank();
        for c in comments {
            a.comment(c);
        }
        a.directive(format!(".global {p}_{name}"));
        a.directive(format!(".type {p}_{name}, @function"));
        a.label(format!("{p}_{name}"));
    }

    fn buf(&self, k: usize) -> String {
        format!("{}_buf{}", self.p, k % 2)
    }

    fn var(&self, v: &str) -> String {
        format!("{}_{v}", self.p)
    }
}

/// `reg_lo:reg_hi` = the address of `sym`.
fn ptr(a: &mut Buffer, reg_lo: Reg, reg_hi: Reg, sym: impl Into<Sym>) {
    let sym = sym.into();
    a.ldi(reg_lo, lo8(sym.clone()));
    a.ldi(reg_hi, hi8(sym));
}

/// r24:r25 = `n`, the count of a loop that ends with [`loop_end`].
fn count(a: &mut Buffer, n: usize) {
    a.ldi(R24, lo(n as u32));
    a.ldi(R25, hi(n as u32));
}

/// Count r24:r25 down and go back to `label`; the buffer turns the branch
/// into a branch over a jump if the loop's body is too long for it.
fn loop_end(a: &mut Buffer, label: &str) {
    a.sbiw(R24, 1);
    a.brne(label);
}

/// r16 = lower-case of r16 (A-Z only).
fn lower_r16(a: &mut Buffer, tag: &str) {
    a.cpi(R16, hex(0x41));
    a.brlo(tag);
    a.cpi(R16, hex(0x5B));
    a.brsh(tag);
    a.subi(R16, hex(0xE0));
    a.label(tag);
}

/// The end of the C function `p_name`: its size for the linker and debuggers.
fn end(a: &mut Buffer, p: &str, name: &str) {
    a.directive(format!(".size {p}_{name}, .-{p}_{name}"));
}

fn push_saved(a: &mut Buffer) {
    for r in SAVED {
        a.push(r);
    }
}

fn pop_saved(a: &mut Buffer) {
    for r in SAVED.iter().rev() {
        a.pop(*r);
    }
}

impl Gen<'_> {
    fn restore_rampz(&self, a: &mut Buffer) {
        if self.far {
            a.out(Io::Rampz, R1);
        }
    }

    /// All the code, in `.text`.
    pub fn code(&self, a: &mut Buffer) {
        a.section(".text");
        self.dense_api(a);
        let text_step = self.generate.is_some() || (self.classify && self.text_api);
        if self.text_api {
            self.encode_api(a);
        }
        if let Some((eos, max)) = self.generate {
            self.reply_api(a, eos, max);
        }
        if self.classify {
            self.classify_api(a);
        }
        if text_step {
            self.text_step(a);
        }
        if !self.allocation.text.is_empty() {
            self.hashing(a);
        }
        if !self.front.is_empty() {
            a.blank();
            self.front(a);
        }
        a.blank();
        self.run_dense(a);
        a.blank();
        self.rest(a);
        a.blank();
        super::kernels::kernels(
            a,
            &super::plan::kernels_used(self.layers, self.allocation),
            self.far,
        );
        super::dense::emit_routines(
            a,
            &super::dense::routines(self.layers, &self.allocation.codings),
            self.far,
        );
    }
}
