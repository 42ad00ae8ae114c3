//! Nibble-coded columns: layer 1's query part, once per reply (see
//! [`query_phase`]), and every column of a layer kept nibble-coded to save
//! memory, all through one routine (see [`nibble_routines`]).

use super::build::Builder;
use super::isa::Reg8::{A, B, C, D, E, H, L};
use super::isa::{
    AluOp, BcDe, Cond, Idx, Index, Inst, JrCond, Loc8, Mem8, Pair, Reg16, Src8, StackReg,
};
use super::plan::MemoryMap;
use super::seq::{add_de_to_row, negate_de, swap_nibbles};

/// Layer 1's query columns, once per reply: a plain loop over the active
/// list with the stack free, each column's nibble-coded rows through `zn_col`.
pub fn query_phase(b: &mut Builder, mem: &MemoryMap) {
    let acc = mem.acc[0] >> 8;
    b.ld16(Reg16::IX, mem.act);
    b.label("qp_col");
    b.ld(A, Idx::ix(1));
    b.alu(AluOp::Or, A);
    b.jp_cc(Cond::Z, "ms_qdone");
    b.ld(H, A);
    b.ld(L, Idx::ix(0));
    table_to_iy(b);
    b.ld(E, Idx::ix(2));
    b.ld(D, Idx::ix(3));
    b.ld(H, acc as i32);
    b.call("zn_col");
    b.ld16(Reg16::BC, 4);
    b.add_idx(Index::IX, Pair::BC);
    b.jr("qp_col");
}

/// iy = the record whose address is in the table slot at hl (low byte; the
/// high byte a page on), with a stack to use; hl lost.
pub fn table_to_iy(b: &mut Builder) {
    b.ld(A, Src8::Hl);
    b.inc(H);
    b.ld(H, Src8::Hl);
    b.ld(L, A);
    b.push(StackReg::HL);
    b.pop(StackReg::IY);
}

/// `zn_col`: one nibble-coded column (a record of [`query_record`]'s form at
/// iy) scattered with x = de into the accumulators at page h, with a stack
/// to call on; it returns with h as it was unless the column has pages
/// after the first (bc, de, l and iy lost: every caller sets iy afresh).
///
/// [`query_record`]: super::coding::query_record
pub fn nibble_routines(b: &mut Builder, multi: bool) {
    b.label("zn_col");
    if multi {
        // The segment's kind (see `coding::Next`), for after its lists.
        b.ld(A, Idx::iy(0));
        b.inc16(Reg16::IY);
        b.ld_mem_a("zn_kind");
    }
    // x = 32 or 64, as a query trigram's bucket usually is: 8-bit adds,
    // with x in c and the record read through de (`ld a,(de)` is 7 T-states
    // where `ld c,(iy+0)` and `inc iy` are 29).
    b.ld(A, D);
    b.alu(AluOp::Or, A);
    b.jr_cc(JrCond::NZ, "zn_wide");
    b.ld(C, E);
    b.push(StackReg::IY);
    b.pop(StackReg::DE);
    b.ld_a_ptr(BcDe::DE);
    b.inc16(Reg16::DE);
    b.ld(B, A);
    b.ld_a_ptr(BcDe::DE);
    b.inc16(Reg16::DE);
    b.push(StackReg::AF);
    b.ld(A, B);
    b.alu(AluOp::Or, A);
    b.call_cc(Cond::NZ, "zq_add");
    b.pop(StackReg::AF);
    b.alu(AluOp::Or, A);
    b.jr_cc(JrCond::Z, "zn_narrowed");
    b.ld(B, A);
    b.call("zq_sub");
    b.label("zn_narrowed");
    if multi {
        // The next segment: its record, and its x.
        b.push(StackReg::DE);
        b.pop(StackReg::IY);
        b.ld(E, C);
        b.ld(D, 0);
    }
    b.jr("zn_segdone");
    b.label("zn_wide");
    b.ld(B, Idx::iy(0));
    b.ld(C, Idx::iy(1));
    b.inc16(Reg16::IY);
    b.inc16(Reg16::IY);
    plus_list(b, "zq_group");
    negate_de(b);
    b.ld(B, C);
    b.call("zq_group");
    if multi {
        // The next segment adds x again.
        negate_de(b);
    }
    b.label("zn_segdone");
    if multi {
        b.ld_a_mem("zn_kind");
        b.alu(AluOp::Or, A);
        b.ret_cc(Cond::Z);
        b.alu(AluOp::Cp, 1);
        b.jr_cc(JrCond::Z, "zn_col");
        b.inc(H);
        b.inc(H);
        b.jr("zn_col");
    } else {
        b.ret();
    }
    // b: how many nibbles (at least 1), h: the accumulator page; zq_group:
    // the nibbles at iy, x = de; zq_add, zq_sub: at de, x = c. A nibble is
    // the gap to the next row; 15 moves on 15 rows without adding.
    nibble_group(b, "zq_group");
    narrow_list(b, "zq_add", AluOp::Add, Inst::Inc(Loc8::Hl));
    narrow_list(b, "zq_sub", AluOp::Sub, Inst::Dec(Loc8::Hl));
    if multi {
        b.label("zn_kind");
        b.db([0u8]);
    }
}

/// The +1 list (b gaps, if any) through `routine`; then on to `zn_segdone`
/// if the segment has no −1 list (c gaps), else on with b = c.
fn plus_list(b: &mut Builder, routine: &str) {
    b.push(StackReg::BC);
    b.ld(A, B);
    b.alu(AluOp::Or, A);
    b.call_cc(Cond::NZ, routine);
    b.pop(StackReg::BC);
    b.ld(A, C);
    b.alu(AluOp::Or, A);
    b.jr_cc(JrCond::Z, "zn_segdone");
}

/// A nibble-coded row list at iy: 16-bit adds of de.
fn nibble_group(b: &mut Builder, name: &str) {
    b.label(name);
    b.ld(L, 0);
    b.label(format!("{name}_byte"));
    b.ld(C, Idx::iy(0));
    b.inc16(Reg16::IY);
    b.ld(A, C);
    swap_nibbles(b);
    for half in [1, 2] {
        if half == 2 {
            b.dec(B);
            b.ret_cc(Cond::Z);
            b.ld(A, C);
        }
        gap_to_row(b, name, half);
        b.ld(A, Src8::Hl);
        add_de_to_row(b);
        b.label(format!("{name}_back{half}"));
    }
    b.djnz(format!("{name}_byte"));
    b.ret();
    escapes(b, name);
}

/// A nibble-coded row list at de: `op` with c, and `fix` on a carry. The
/// byte is read twice, once for each nibble (no register is left to keep
/// it in); a list ending on its first nibble still steps de past the byte.
fn narrow_list(b: &mut Builder, name: &str, op: AluOp, fix: Inst) {
    b.label(name);
    b.ld(L, 0);
    b.label(format!("{name}_byte"));
    b.ld_a_ptr(BcDe::DE);
    swap_nibbles(b);
    for half in [1, 2] {
        if half == 2 {
            b.dec(B);
            b.jr_cc(JrCond::Z, format!("{name}_odd"));
            b.ld_a_ptr(BcDe::DE);
            b.inc16(Reg16::DE);
        }
        gap_to_row(b, name, half);
        b.ld(A, Src8::Hl);
        b.alu(op, C);
        b.st(Mem8::Hl, A);
        b.jr_cc(JrCond::NC, format!("{name}_back{half}"));
        b.inc(H);
        b.inst(fix.clone());
        b.dec(H);
        b.label(format!("{name}_back{half}"));
    }
    b.djnz(format!("{name}_byte"));
    b.ret();
    b.label(format!("{name}_odd"));
    b.inc16(Reg16::DE);
    b.ret();
    escapes(b, name);
}

/// l = the next row: the nibble in a's low half added (15: on 15 rows
/// through `{name}_esc{half}`, which adds nothing).
fn gap_to_row(b: &mut Builder, name: &str, half: u8) {
    b.alu(AluOp::And, 15);
    b.alu(AluOp::Cp, 15);
    b.jr_cc(JrCond::Z, format!("{name}_esc{half}"));
    b.alu(AluOp::Add, L);
    b.ld(L, A);
}

/// The escapes of a list routine: 15 rows on, back to after the add.
fn escapes(b: &mut Builder, name: &str) {
    for half in [1, 2] {
        b.label(format!("{name}_esc{half}"));
        b.ld(A, L);
        b.alu(AluOp::Add, 15);
        b.ld(L, A);
        b.jr(format!("{name}_back{half}"));
    }
}
