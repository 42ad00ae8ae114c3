//! `model_init`: once, before the first step, the accumulators get their
//! biases and the packed column records are unpacked in place, their address
//! tables built (see [`init_routine`]).

use super::build::Builder;
use super::coding::{image_records, record_parts, Blob, ImagePart};
use super::expr::Expr;
use super::isa::Reg8::{A, B, C, D, E, H, L};
use super::isa::{
    AluOp, BcDe, Cond, Idx, Inst, JrCond, Mem8, Pair, Reg16, Reg8, RotOp, Src8, StackReg,
};
use super::plan::{page_runs, MemoryMap, Split};
use super::seq::{split_copy_loop, swap_nibbles};
use crate::lowered::FusedLayer;

/// Layer `k`'s `rows` biases (words from `bias`) into its accumulator pages.
fn bias_into_acc(b: &mut Builder, bias: impl Into<Expr>, k: usize, rows: usize, mem: &MemoryMap) {
    let bias = bias.into();
    for run in page_runs(0..rows) {
        b.ld16(Reg16::HL, offset(bias.clone(), 2 * run.start));
        b.ld16(Reg16::DE, mem.acc_page(k, run.start / 256));
        b.ld(B, (run.len() % 256) as i32);
        b.call("mi_bias");
    }
}

/// Layer `k`'s records in the program, nibble-coded or ready: the labels of
/// their list (of lengths or of addresses, see [`ImagePart::by_length`]) and
/// of the records.
pub fn image_labels(k: usize, part: &ImagePart) -> (String, String) {
    let t = if part.nibble { 'n' } else { 'r' };
    let list = if part.by_length() { "lens" } else { "addr" };
    (format!("l{k}_{t}{list}"), format!("l{k}_{t}recs"))
}

/// `at + by`, printed as just `at` when `by` is 0.
pub fn offset(at: Expr, by: usize) -> Expr {
    if by == 0 {
        at
    } else {
        at.plus(Expr::Num(by as i32))
    }
}

/// First step only: accumulators get their biases, and the record address tables are built.
pub fn init_routine(
    b: &mut Builder,
    layers: &[FusedLayer],
    mem: &MemoryMap,
    split: Option<&Split>,
    blob: &Blob,
) {
    b.comment(
        "---- model_init: biases into the accumulators, records unpacked, their tables built ----",
    );
    b.label("model_init");
    // Once only: the packed records are gone after the first call.
    b.ld_a_mem("ms_ready");
    b.alu(AluOp::Or, A);
    b.ret_cc(Cond::NZ);
    for (k, l) in layers.iter().enumerate() {
        bias_into_acc(b, format!("l{k}_bias"), k, l.rows(), mem);
    }
    let mut walk = false;
    for (k, l) in layers.iter().enumerate() {
        // The records in the program: their addresses into their table
        // slots, from a list of addresses or, walked, of lengths.
        for part in image_records(k, l, split, blob) {
            let (list, recs) = image_labels(k, &part);
            let lengths = part.lengths();
            let by_length = part.by_length();
            walk |= by_length;
            for run in page_runs(part.cols.clone()) {
                let first = run.start - part.cols.start;
                if by_length {
                    let at: usize = lengths[..first].iter().sum();
                    b.ld16(Reg16::HL, offset(Expr::sym(recs.clone()), at));
                    b.ld16(Reg16::IX, offset(Expr::sym(list.clone()), first));
                } else {
                    b.ld16(Reg16::HL, offset(Expr::sym(list.clone()), 2 * first));
                }
                b.ld16(Reg16::DE, mem.table(k, run.start));
                b.ld(B, (run.len() % 256) as i32);
                b.call(if by_length { "mi_walk" } else { "mi_bias" });
            }
        }
    }
    if !blob.bytes.is_empty() {
        unpack(b, layers, mem, split, blob);
    }
    b.ld(A, 1);
    b.ld_mem_a("ms_ready");
    if split.is_some() {
        b.ld_mem_a(mem.vars.new_query);
    }
    b.ret();
    if !blob.bytes.is_empty() {
        unpack_routines(b, blob.multi);
    }
    // hl: words (biases, record addresses), de: low-byte page, b: how many.
    split_copy_loop(b, "mi_bias", Reg16::HL);
    b.ret();
    if walk {
        // hl: the first record, ix: their lengths, de: its table slot, b: how many.
        b.label("mi_walk");
        b.ld(A, L);
        b.ld_ptr_a(BcDe::DE);
        b.inc(D);
        b.ld(A, H);
        b.ld_ptr_a(BcDe::DE);
        b.dec(D);
        b.inc(E);
        b.ld(A, Idx::ix(0));
        b.inc16(Reg16::IX);
        b.alu(AluOp::Add, L);
        b.ld(L, A);
        b.jr_cc(JrCond::NC, "mi_walk1");
        b.inc(H);
        b.label("mi_walk1");
        b.djnz("mi_walk");
        b.ret();
    }
    b.label("ms_ready");
    b.db([0u8]);
}

/// `model_init`'s last part: unpack the records in place, from the top of
/// the blob down (see `coding::blob`), filling the record address tables
/// from each run's last column down.
fn unpack(
    b: &mut Builder,
    layers: &[FusedLayer],
    mem: &MemoryMap,
    split: Option<&Split>,
    blob: &Blob,
) {
    b.equ("zblob_len", blob.bytes.len() as i32);
    b.equ("zblob_unpacked", blob.unpacked as i32);
    let top = |len: &str| Expr::sym("zblob").plus(len.into()).minus(1.into());
    b.ld16(Reg16::HL, top("zblob_len"));
    b.ld16(Reg16::DE, top("zblob_unpacked"));
    let parts = record_parts(layers, split, &blob.codings);
    for (k, (first, cols)) in parts.iter().enumerate().rev() {
        for run in page_runs(*first..first + cols.len()).into_iter().rev() {
            b.inst(Inst::Exx);
            b.ld16(Reg16::HL, mem.table(k, run.end - 1));
            b.inst(Inst::Exx);
            b.ld(A, (run.len() % 256) as i32);
            b.ld_mem_a("ex_cols");
            b.call("ex_part");
        }
    }
}

/// One gap nibble (in a's low half) to the next row, c = the row so far,
/// written at de, downwards; 15 jumps to `esc`.
fn gap_row(b: &mut Builder, esc: &str) {
    b.alu(AluOp::And, 15);
    b.alu(AluOp::Cp, 15);
    b.jr_cc(JrCond::Z, esc);
    b.alu(AluOp::Add, C);
    b.ld(C, A);
    b.ld_ptr_a(BcDe::DE);
    b.dec16(Reg16::DE);
}

/// `routine` with a = one of the segment's counts kept on the stack (b: −1
/// rows, c: +1 rows) and bc = `table` if given; the counts stay pushed.
fn with_count(b: &mut Builder, count: Reg8, table: Option<&str>, routine: &str) {
    b.pop(StackReg::BC);
    b.push(StackReg::BC);
    b.ld(A, count);
    if let Some(table) = table {
        b.ld16(Reg16::BC, table);
    }
    b.call(routine);
}

/// The subroutines `unpack` calls. Both pointers go down: hl at the next
/// packed byte, de at the next record byte.
fn unpack_routines(b: &mut Builder, multi: bool) {
    // hl': the table slot of the run's last column, (ex_cols): columns.
    b.label("ex_part");
    if multi {
        b.ld(A, Src8::Hl);
        b.dec16(Reg16::HL);
        b.ld_mem_a("ex_segs");
        // A column's segments, last first, each led by its kind (see `coding::Next`).
        b.label("ex_seg");
        b.ld(A, Src8::Hl);
        b.dec16(Reg16::HL);
        b.ld_mem_a("ex_kind");
    }
    b.ld(B, Src8::Hl);
    b.dec16(Reg16::HL);
    b.ld(C, Src8::Hl);
    b.dec16(Reg16::HL);
    // b = −1 rows, c = +1 rows: the −1 list, its entry, the +1 list, its
    // entry, the turns, written from the record's end down.
    b.push(StackReg::BC);
    b.ld(A, B);
    b.call("ex_list");
    if multi {
        // The −1 entries of the loop that ends this kind of segment: the
        // three tables of five words follow one another.
        b.ld_a_mem("ex_kind");
        b.ld(C, A);
        b.alu(AluOp::Add, A);
        b.alu(AluOp::Add, A);
        b.alu(AluOp::Add, C);
        b.alu(AluOp::Add, A);
        b.ld16(Reg16::BC, "ex_minus");
        b.alu(AluOp::Add, C);
        b.ld(C, A);
        b.alu(AluOp::Adc, B);
        b.alu(AluOp::Sub, C);
        b.ld(B, A);
        // a = the −1 rows, the pushed b.
        b.pop(StackReg::AF);
        b.push(StackReg::AF);
        b.call("ex_entry");
    } else {
        with_count(b, B, Some("ex_minus"), "ex_entry");
    }
    with_count(b, C, None, "ex_list");
    with_count(b, C, Some("ex_plus"), "ex_entry");
    b.pop(StackReg::BC);
    b.ld(A, B);
    b.call("ex_turns");
    b.ld(A, C);
    b.call("ex_turns");
    if multi {
        b.ld_a_mem("ex_segs");
        b.dec(A);
        b.ld_mem_a("ex_segs");
        b.jp_cc(Cond::NZ, "ex_seg");
    }
    // The record starts at de+1: into the column's table slot.
    b.inc16(Reg16::DE);
    b.ld(A, E);
    b.inst(Inst::Exx);
    b.st(Mem8::Hl, A);
    b.inc(H);
    b.inst(Inst::Exx);
    b.ld(A, D);
    b.inst(Inst::Exx);
    b.st(Mem8::Hl, A);
    b.dec(H);
    b.dec(L);
    b.inst(Inst::Exx);
    b.dec16(Reg16::DE);
    b.ld_a_mem("ex_cols");
    b.dec(A);
    b.ld_mem_a("ex_cols");
    if multi {
        b.jp_cc(Cond::NZ, "ex_part");
    } else {
        b.jr_cc(JrCond::NZ, "ex_part");
    }
    b.ret();
    // a = n rows: writes the turns, ceil(n/4) (9-bit sum through the carry).
    b.label("ex_turns");
    b.alu(AluOp::Add, 3);
    b.inst(Inst::Rra);
    b.rot(RotOp::Srl, A);
    b.ld_ptr_a(BcDe::DE);
    b.dec16(Reg16::DE);
    b.ret();
    // a = n rows, bc = a loop's entries by n mod 4, then its exit (n = 0):
    // the entry's word, high byte first.
    b.label("ex_entry");
    b.push(StackReg::HL);
    b.ld(H, B);
    b.ld(L, C);
    b.alu(AluOp::Or, A);
    b.ld(C, 9);
    b.jr_cc(JrCond::Z, "ex_slot");
    b.alu(AluOp::And, 3);
    b.alu(AluOp::Add, A);
    b.inc(A);
    b.ld(C, A);
    b.label("ex_slot");
    b.ld(B, 0);
    b.add_hl(Pair::BC);
    b.ld(A, Src8::Hl);
    b.ld_ptr_a(BcDe::DE);
    b.dec16(Reg16::DE);
    b.dec16(Reg16::HL);
    b.ld(A, Src8::Hl);
    b.ld_ptr_a(BcDe::DE);
    b.dec16(Reg16::DE);
    b.pop(StackReg::HL);
    b.ret();
    // a = n rows: the rows from the gaps, then a junk byte if n is odd
    // (it leads the list in memory).
    b.label("ex_list");
    b.alu(AluOp::Or, A);
    b.ret_cc(Cond::Z);
    b.push(StackReg::AF);
    b.ld(B, A);
    b.ld(C, 0);
    b.label("ex_hi");
    b.ld(A, Src8::Hl);
    swap_nibbles(b);
    gap_row(b, "ex_esc1");
    b.dec(B);
    b.jr_cc(JrCond::Z, "ex_pad");
    b.label("ex_lo");
    b.ld(A, Src8::Hl);
    b.dec16(Reg16::HL);
    gap_row(b, "ex_esc2");
    b.djnz("ex_hi");
    b.label("ex_odd");
    b.pop(StackReg::AF);
    b.inst(Inst::Rra);
    b.ret_cc(Cond::NC);
    b.dec16(Reg16::DE);
    b.ret();
    // The list ended on a high nibble: the low one is padding.
    b.label("ex_pad");
    b.dec16(Reg16::HL);
    b.jr("ex_odd");
    // A 15 moves on 15 rows and goes on with the other nibble.
    for (esc, back) in [("ex_esc1", "ex_lo"), ("ex_esc2", "ex_hi")] {
        b.label(esc);
        b.ld(A, C);
        b.alu(AluOp::Add, 15);
        b.ld(C, A);
        b.jr(back);
    }
    let mut tables = vec![("ex_plus", "zsa"), ("ex_minus", "zss")];
    if multi {
        tables.extend([("ex_minus_k", "zsk"), ("ex_minus_n", "zsn")]);
    }
    for (name, lp) in tables {
        b.label(name);
        b.dw(["s0", "e3", "s2", "e1", "x"].map(|slot| format!("{lp}_{slot}")));
    }
    b.label("ex_cols");
    b.db([0u8]);
    if multi {
        b.label("ex_kind");
        b.db([0u8]);
        b.label("ex_segs");
        b.db([0u8]);
    }
}
