//! Instruction sequences several parts of the generator emit.

use super::build::Builder;
use super::isa::Reg8::{A, D, E, H, L};
use super::isa::{AluOp, BcDe, Inst, Mem8, Reg16, Src8};

/// de = -de (a lost).
pub fn negate_de(b: &mut Builder) {
    b.alu(AluOp::Xor, A);
    b.alu(AluOp::Sub, E);
    b.ld(E, A);
    b.alu(AluOp::Sbc, A);
    b.alu(AluOp::Sub, D);
    b.ld(D, A);
}

/// The row at l (low byte already in a) += de, the high byte in page h+1.
pub fn add_de_to_row(b: &mut Builder) {
    b.alu(AluOp::Add, E);
    b.st(Mem8::Hl, A);
    b.inc(H);
    b.ld(A, Src8::Hl);
    b.alu(AluOp::Adc, D);
    b.st(Mem8::Hl, A);
    b.dec(H);
}

/// a = a rotated right by four (the high nibble comes down, `and 15` follows).
pub fn swap_nibbles(b: &mut Builder) {
    for _ in 0..4 {
        b.inst(Inst::Rrca);
    }
}

/// A loop from `label` copying b rows between a word list and a split-page
/// table (low bytes in one page, high bytes in the next), `(hl)` to `(de)`:
/// `words` is the pair that walks the word list, the other one the table.
pub fn split_copy_loop(b: &mut Builder, label: &str, words: Reg16) {
    let (page, row) = if words == Reg16::HL { (D, E) } else { (H, L) };
    b.label(label);
    b.ld(A, Src8::Hl);
    b.ld_ptr_a(BcDe::DE);
    b.inc16(words);
    b.inc(page);
    b.ld(A, Src8::Hl);
    b.ld_ptr_a(BcDe::DE);
    b.inc16(words);
    b.dec(page);
    b.inc(row);
    b.djnz(label);
}
