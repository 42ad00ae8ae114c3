//! Inference code for the Z80: column-scatter sparse matmuls over the non-zero
//! inputs only, so zero weights, zero activations and dead neurons cost nothing.
//!
//! Layout (see `docs/z80.md` for the reasons):
//! - every layer has its own accumulators in two page-aligned buffers, low
//!   bytes in one page and high bytes in the next, so a row index is just `l`;
//!   they hold the bias when a step starts, because the epilogue that reads a
//!   row puts the bias back for the next step;
//! - every input column has a record: its +1 rows and its −1 rows as byte
//!   lists (a weight w > 1 or w < −1 appears |w| times), each with the address
//!   in the scatter loop where it starts (see `scatter_routines`), so the inner
//!   loop pops two row indices at a time and a column costs no count arithmetic;
//! - the records are in the program ready to use, or packed as nibble-coded
//!   row gaps (`blob`) and unpacked in place by `model_init`; `model_init`
//!   also fills a table of their addresses (low and high bytes in two
//!   pages), so a column's record is found from its index in a few
//!   instructions; a layer short of memory keeps its records nibble-coded
//!   and scatters them through `zn_col` (see `coding::Coding`);
//! - a layer of more than 256 rows has a pair of accumulator pages per 256
//!   rows, and its records chain a segment per page (see `coding::segments`);
//! - layer 1 scans the input and scatters each non-zero word's column; every
//!   later layer's column is scattered by the previous layer's epilogue the
//!   moment that unit comes out non-zero, so no list of active units is kept.
//!
//! The stack pointer reads the records inside a step, so a step runs with
//! interrupts disabled and restores the caller's interrupt state before it returns.

use std::ops::Range;

use super::activation::{activate, activation_table, cap, ActivationSite};
use super::build::Builder;
use super::coding::{image_records, Blob, Coding, ReadyPart};
use super::expr::Expr;
use super::init::image_labels;
use super::init::{init_routine, offset};
use super::isa::Reg8::{A, B, C, D, E, H, L};
use super::isa::{
    AluOp, BcDe, Cond, HlIx, Idx, Index, Inst, JrCond, Mem8, Pair, Reg16, Reg8, RotOp, Src8,
    StackReg,
};
use super::plan::{page_runs, MemoryMap, Split};
use super::query::{nibble_routines, query_phase, table_to_iy};
use super::scatter::{scatter_routines, start_column};
use crate::lowered::{Activation, FusedLayer};
/// The model's code and tables: `model_init`, `model_query`, `model_step` and
/// everything they use.
pub fn model_code(
    b: &mut Builder,
    layers: &[FusedLayer],
    mem: &MemoryMap,
    zin_len: usize,
    split: Option<&Split>,
    blob: &Blob,
) {
    let v = mem.vars;
    b.comment("---- model_query: the query part of zin changed (a new reply starts) ----");
    b.label("model_query");
    if split.is_some() {
        b.ld(A, 1);
        b.ld_mem_a(v.new_query);
    }
    b.ret();
    let page = |a: u16| (a >> 8) as u8;
    b.comment("---- model_step: one inference step on zin; returns the class in a ----");
    b.label("model_step");
    b.st16_mem(v.saved_sp, Reg16::SP);
    interrupts_off(b, v.iff);
    // Programs that include this code call model_init first; a forgotten
    // call costs one slow step instead of wrong answers.
    b.ld_a_mem("ms_ready");
    b.alu(AluOp::Or, A);
    b.call_cc(Cond::Z, "model_init");
    match split {
        None => scan_any(b, "ms", 0..zin_len, mem, layers, blob),
        Some(sp) => {
            // A new query: layer 1 restarts from the bias, takes in the
            // query's columns, and keeps the sums for the whole reply.
            b.ld_a_mem(v.new_query);
            b.alu(AluOp::Or, A);
            b.jp_cc(Cond::Z, "ms_ctx");
            b.alu(AluOp::Xor, A);
            b.ld_mem_a(v.new_query);
            // Interrupts are off, so the stack pointer can read and write
            // the word tables; the caller's stack is back for the calls.
            bias_from_stack(b, layers[0].rows(), mem);
            b.ld16_mem(Reg16::SP, v.saved_sp);
            scan(b, "mq", sp.query.clone(), mem);
            query_phase(b, mem);
            b.label("ms_qdone");
            keep_by_stack(b, layers[0].rows(), mem);
            b.ld16_mem(Reg16::SP, v.saved_sp);
            b.label("ms_ctx");
            scan_any(b, "mc", sp.context.clone(), mem, layers, blob);
        }
    }
    let last = layers.len() - 1;
    for (k, l) in layers.iter().enumerate() {
        let rows = l.rows();
        b.comment(format!(
            "---- layer {} epilogue: {} units{} ----",
            k + 1,
            rows,
            if k == last {
                ", argmax"
            } else {
                ", each one scattered into the next layer at once"
            }
        ));
        b.label(format!("l{k}_ep"));
        let bias = if k == 0 && split.is_some() {
            Expr::from(mem.cache)
        } else {
            Expr::sym(format!("l{k}_bias"))
        };
        if k == last {
            last_epilogue(b, l, k, mem, bias);
            continue;
        }
        // The scatter runs in the main registers with h = the next layer's
        // accumulator page; this loop runs in the alternate set.
        b.ld(H, page(mem.acc[k + 1]));
        b.inst(Inst::Exx);
        b.ld16(Reg16::SP, bias);
        let runs = page_runs(0..rows);
        for run in &runs {
            if blob.nibble(k + 1) {
                nibble_epilogue_page(b, l, k, run, mem);
            } else {
                hidden_epilogue_page(b, l, k, run, mem, layers[k + 1].rows() > 256);
            }
        }
        b.inst(Inst::Exx);
        b.jp(format!("l{}_ep", k + 1));
        for run in runs.iter().filter(|_| !blob.nibble(k + 1)) {
            let tag = paged(&format!("l{k}"), run.start / 256);
            // Any other x: through memory, and the general dispatch.
            b.label(format!("{tag}_big"));
            b.ld_mem_a(v.x + 1);
            b.ld(A, C);
            b.ld_mem_a(v.x);
            b.st16_mem(v.epilogue_sp, Reg16::SP);
            record_sp(b, page(mem.table(k + 1, run.start)));
            b.inst(Inst::Exx);
            b.ld16_mem(Reg16::DE, v.x);
            dispatch_de(b);
        }
    }
    b.comment("---- back to the caller, interrupts as they were ----");
    b.ld16_mem(Reg16::SP, v.saved_sp);
    return_class(b, v.iff, v.class);
    init_routine(b, layers, mem, split, blob);
    scatter_routines(b, blob.multi);
    if split.is_some() || blob.codings.contains(&Coding::Nibble) {
        nibble_routines(b, blob.multi);
    }
    tables(b, layers, split, blob);
}

/// Layer 1's accumulators from its bias words, popped (interrupts off).
fn bias_from_stack(b: &mut Builder, rows: usize, mem: &MemoryMap) {
    for run in page_runs(0..rows) {
        let page = run.start / 256;
        let tag = paged("mq_bias", page);
        b.ld16(Reg16::SP, offset(Expr::sym("l0_bias"), 2 * run.start));
        b.ld16(Reg16::HL, mem.acc_page(0, page));
        b.ld(B, (run.len() % 256) as i32);
        b.label(&tag);
        b.pop(StackReg::DE);
        b.st(Mem8::Hl, E);
        b.inc(H);
        b.st(Mem8::Hl, D);
        b.dec(H);
        b.inc(L);
        b.djnz(tag);
    }
}

/// Layer 1's accumulators (the query's sums) into the word table the
/// epilogue restores them from, pushed from the last row down (interrupts off).
fn keep_by_stack(b: &mut Builder, rows: usize, mem: &MemoryMap) {
    for run in page_runs(0..rows) {
        let page = run.start / 256;
        let tag = paged("ms_keep", page);
        b.ld16(Reg16::SP, mem.cache + 2 * run.end as u16);
        b.ld16(Reg16::HL, mem.acc_page(0, page) + (run.len() - 1) as u16);
        b.ld(B, (run.len() % 256) as i32);
        b.label(&tag);
        b.inc(H);
        b.ld(D, Src8::Hl);
        b.dec(H);
        b.ld(E, Src8::Hl);
        b.push(StackReg::DE);
        b.dec(L);
        b.djnz(tag);
    }
}

/// `tag` for page 0 of a layer, `tag_pN` for page N (so one-page models keep their names).
fn paged(tag: &str, page: usize) -> String {
    if page == 0 {
        tag.to_string()
    } else {
        format!("{tag}_p{page}")
    }
}

/// One page of a hidden layer's epilogue (rows `run`, in the alternate set,
/// SP at their biases): each non-zero unit scattered into layer `k+1` at once.
/// `wide_next`: layer `k+1` has more than one page, so its scatters move the
/// main set's h, which the resume puts back.
fn hidden_epilogue_page(
    b: &mut Builder,
    l: &FusedLayer,
    k: usize,
    run: &Range<usize>,
    mem: &MemoryMap,
    wide_next: bool,
) {
    let v = mem.vars;
    let tag = paged(&format!("l{k}"), run.start / 256);
    let acc = mem.acc_page(k, run.start / 256);
    b.ld16(Reg16::IY, format!("{tag}_resume"));
    // A non-negative row whose high byte is 0 (most of them) has its output
    // in c after a shift of c alone; others go the general way, `TAG_wide`.
    let high_zero_fast = l.relu() && (1..8).contains(&l.shift);
    if high_zero_fast {
        epilogue_head(b, l, acc, run.len(), &tag);
        b.jr_cc(JrCond::NZ, format!("{tag}_wide"));
        for _ in 0..l.shift {
            b.rot(RotOp::Srl, C);
        }
        b.jr_cc(JrCond::Z, format!("{tag}_epnext"));
    } else {
        epilogue_row(b, l, k, acc, run.len(), &tag, mem);
        // a:c is the unit's output, the next layer's input x. Common case
        // 1 <= x <= 255: only c crosses over to the scatter, in a.
        b.alu(AluOp::Or, A);
        b.jp_cc(Cond::NZ, format!("{tag}_big"));
        b.alu(AluOp::Or, C);
        b.jr_cc(JrCond::Z, format!("{tag}_epnext"));
    }
    b.label(format!("{tag}_small"));
    b.st16_mem(v.epilogue_sp, Reg16::SP);
    record_sp(b, (mem.table(k + 1, run.start) >> 8) as u8);
    b.ld(A, C);
    b.inst(Inst::Exx);
    b.ld(C, A);
    start_column(b);
    b.label(format!("{tag}_resume"));
    if wide_next {
        b.ld(H, (mem.acc[k + 1] >> 8) as u8);
    }
    b.inst(Inst::Exx);
    b.ld16_mem(Reg16::SP, v.epilogue_sp);
    epilogue_next(b, l, &tag, |b| {
        if high_zero_fast {
            // A high byte of 1..127: the output is at least 256 >> shift,
            // so not 0; a high byte left after the shift goes to `TAG_big`.
            b.label(format!("{tag}_wide"));
            b.inst(Inst::Rra);
            shift_ac(b, l.shift);
            b.alu(AluOp::Or, A);
            b.jp_cc(Cond::NZ, format!("{tag}_big"));
            b.jp(format!("{tag}_small"));
        }
    });
}

/// A hidden epilogue page's loop head: `rows` rows of layer `l` (layer
/// `k`) whose accumulators start at `acc` (alternate set, SP at their
/// biases), each read into a:c, its bias put back, ReLU'd (negative ones on
/// to the next row at once) and shifted, or shifted and then activated.
fn epilogue_row(
    b: &mut Builder,
    l: &FusedLayer,
    k: usize,
    acc: u16,
    rows: usize,
    tag: &str,
    mem: &MemoryMap,
) {
    if !skips_negatives(l) {
        b.ld16(Reg16::HL, acc);
        row_loop(b, rows, tag);
        shift_ac(b, l.shift);
        other_activation(b, l, k, tag, mem);
        return;
    }
    epilogue_head(b, l, acc, rows, tag);
    b.inst(Inst::Rra);
    shift_ac(b, l.shift);
    if let Some(Activation::Clamp { hi, .. }) = l.activation {
        cap(b, hi, tag);
    }
}

/// Whether layer `l`'s activation makes every negative value 0: ReLU, and a
/// clamp from 0 (ReLU6); their epilogues skip negative rows at once.
fn skips_negatives(l: &FusedLayer) -> bool {
    l.activation
        .as_ref()
        .is_some_and(Activation::zeroes_negatives)
}

/// [`epilogue_row`] with ReLU, up to the shift: a = twice the high byte
/// (Z if it is 0; the carry clear, so `rra` gives it back), c = the low
/// byte, the bias back, negative rows gone.
fn epilogue_head(b: &mut Builder, l: &FusedLayer, acc: u16, rows: usize, tag: &str) {
    debug_assert!(skips_negatives(l));
    b.ld16(Reg16::HL, acc);
    // The high byte first: most units come out negative, and those need
    // only their bias back, not their low byte read.
    b.ld(B, (rows % 256) as i32);
    b.label(format!("{tag}_eplp"));
    b.pop(StackReg::DE);
    b.inc(H);
    b.ld(A, Src8::Hl);
    b.st(Mem8::Hl, D);
    b.dec(H);
    // The sign into the carry: a negative row (most of them) falls through
    // to its own short tail, the low byte's bias and on to the next row.
    b.alu(AluOp::Add, A);
    b.jr_cc(JrCond::NC, format!("{tag}_pos"));
    b.st(Mem8::Hl, E);
    b.inc(L);
    b.djnz(format!("{tag}_eplp"));
    b.jp(format!("{tag}_epdone"));
    b.label(format!("{tag}_pos"));
    b.ld(C, Src8::Hl);
    b.st(Mem8::Hl, E);
}

/// The code of layer `k`'s activation on a:c, unless it has none or ReLU
/// (whose code is the epilogue's own); `tag` is the epilogue's.
fn other_activation(b: &mut Builder, l: &FusedLayer, k: usize, tag: &str, mem: &MemoryMap) {
    if let Some(act) = l.activation.as_ref().filter(|_| !l.relu()) {
        let table = activation_label(k);
        let site = ActivationSite {
            tag,
            table: &table,
            // The general scatter's x: free until the output is known.
            save: mem.vars.x,
        };
        activate(b, act, &site);
    }
}

/// The label of layer `k`'s activation data (a lookup table).
fn activation_label(k: usize) -> String {
    format!("l{k}_act")
}

/// An epilogue's loop over `rows` rows from hl: `TAG_eplp`, each row read.
fn row_loop(b: &mut Builder, rows: usize, tag: &str) {
    b.ld(B, (rows % 256) as i32);
    b.label(format!("{tag}_eplp"));
    read_row(b);
}

/// A hidden epilogue page's loop tail: on to the next row; with ReLU,
/// `tail` after it, out of the loop's way, and `TAG_epdone` (where the
/// negative rows' own tail, in the loop head, goes after the last row).
fn epilogue_next(b: &mut Builder, l: &FusedLayer, tag: &str, tail: impl FnOnce(&mut Builder)) {
    b.label(format!("{tag}_epnext"));
    b.inc(L);
    if l.activation.is_some() && !l.relu() {
        // The activation's code may put the loop's head out of djnz's reach.
        b.dec(B);
        b.jp_cc(Cond::NZ, format!("{tag}_eplp"));
    } else {
        b.djnz(format!("{tag}_eplp"));
    }
    if skips_negatives(l) {
        b.jr(format!("{tag}_epdone"));
        tail(b);
        b.label(format!("{tag}_epdone"));
    }
}

/// The stack nibble-coded scatters call on: the top of the variables' page
/// (the caller's stack is not used inside a step).
fn zn_stack(mem: &MemoryMap) -> u16 {
    mem.vars.saved_sp + 0x100
}

/// [`hidden_epilogue_page`] for a next layer kept nibble-coded: each
/// non-zero unit's column through `zn_col`, x in memory.
fn nibble_epilogue_page(
    b: &mut Builder,
    l: &FusedLayer,
    k: usize,
    run: &Range<usize>,
    mem: &MemoryMap,
) {
    let v = mem.vars;
    let tag = paged(&format!("l{k}"), run.start / 256);
    let acc = mem.acc_page(k, run.start / 256);
    epilogue_row(b, l, k, acc, run.len(), &tag, mem);
    b.ld_mem_a(v.x + 1);
    b.alu(AluOp::Or, C);
    b.jr_cc(JrCond::Z, format!("{tag}_epnext"));
    b.ld(A, C);
    b.ld_mem_a(v.x);
    b.st16_mem(v.epilogue_sp, Reg16::SP);
    // hl = the record (de keeps the row), on to the main set's scatter.
    b.ld(E, L);
    b.ld(D, (mem.table(k + 1, run.start) >> 8) as u8);
    b.ld_a_ptr(BcDe::DE);
    b.inc(D);
    b.inst(Inst::ExDeHl);
    b.ld(H, Src8::Hl);
    b.ld(L, A);
    b.ld16(Reg16::SP, zn_stack(mem));
    b.push(StackReg::HL);
    b.pop(StackReg::IY);
    b.inst(Inst::ExDeHl);
    b.inst(Inst::Exx);
    b.ld16_mem(Reg16::DE, v.x);
    b.ld(H, (mem.acc[k + 1] >> 8) as u8);
    b.call("zn_col");
    b.inst(Inst::Exx);
    b.ld16_mem(Reg16::SP, v.epilogue_sp);
    epilogue_next(b, l, &tag, |_| {});
}

/// Layer 1's input scan over `zin[words]`, for its layout: unpacked
/// records through the scatter loops, or nibble-coded ones through `zn_col`.
fn scan_any(
    b: &mut Builder,
    tag: &str,
    words: Range<usize>,
    mem: &MemoryMap,
    layers: &[FusedLayer],
    blob: &Blob,
) {
    if !blob.nibble(0) {
        return scan_scatter(b, tag, words, mem, layers);
    }
    b.ld16(Reg16::SP, zn_stack(mem));
    pages_scan(b, tag, words, |b, tag, run| {
        b.push(StackReg::HL);
        b.push(StackReg::BC);
        b.dec16(Reg16::HL);
        b.ld(D, Src8::Hl);
        b.dec16(Reg16::HL);
        b.ld(E, Src8::Hl);
        b.ld(L, C);
        b.ld(H, (mem.table(0, run.start) >> 8) as u8);
        table_to_iy(b);
        b.ld(H, (mem.acc[0] >> 8) as u8);
        b.call("zn_col");
        b.pop(StackReg::BC);
        b.pop(StackReg::HL);
        b.jr(format!("{tag}_next"));
    });
    b.jp("l0_ep");
}

/// Layer 1's input scan: each non-zero word of `zin[words]` has its column
/// scattered at once, the scan running in the alternate set; a page of
/// columns at a time (the record tables' pages).
fn scan_scatter(
    b: &mut Builder,
    tag: &str,
    words: Range<usize>,
    mem: &MemoryMap,
    layers: &[FusedLayer],
) {
    let zx = mem.vars.x;
    let acc = (mem.acc[0] >> 8) as u8;
    let runs = page_runs(words);
    for (i, run) in runs.iter().enumerate() {
        let next = paged(tag, i + 1);
        let tag = paged(tag, i);
        if i > 0 {
            b.label(format!("{tag}_begin"));
        }
        let recs = (mem.table(0, run.start) >> 8) as u8;
        b.ld(H, acc);
        b.ld16(Reg16::IY, format!("{tag}_resume"));
        b.inst(Inst::Exx);
        b.ld16(Reg16::HL, zin_word(run.start));
        scan_loop(b, &tag, run);
        b.inst(Inst::Exx);
        if i + 1 < runs.len() {
            b.jp(format!("{next}_begin"));
        } else {
            b.jp("l0_ep");
        }
        b.label(format!("{tag}_found"));
        b.dec16(Reg16::HL);
        b.ld(A, Src8::Hl);
        b.dec16(Reg16::HL);
        b.alu(AluOp::Or, A);
        b.jr_cc(JrCond::NZ, format!("{tag}_big"));
        b.ld(A, Src8::Hl);
        b.inc16(Reg16::HL);
        b.inc16(Reg16::HL);
        b.inst(Inst::ExAf);
        column_sp(b, C, recs);
        b.inst(Inst::ExAf);
        b.inst(Inst::Exx);
        b.ld(C, A);
        start_column(b);
        b.label(format!("{tag}_resume"));
        if layers[0].rows() > 256 {
            b.ld(H, acc);
        }
        b.inst(Inst::Exx);
        b.jr(format!("{tag}_next"));
        b.label(format!("{tag}_big"));
        b.ld_mem_a(zx + 1);
        b.ld(A, Src8::Hl);
        b.ld_mem_a(zx);
        b.inc16(Reg16::HL);
        b.inc16(Reg16::HL);
        column_sp(b, C, recs);
        b.inst(Inst::Exx);
        b.ld16_mem(Reg16::DE, zx);
        dispatch_de(b);
    }
}

/// Read the row at hl (alternate set) into a:c and put its bias, popped, back.
fn read_row(b: &mut Builder) {
    b.pop(StackReg::DE);
    b.ld(A, Src8::Hl);
    b.st(Mem8::Hl, E);
    b.inc(H);
    b.ld(C, A);
    b.ld(A, Src8::Hl);
    b.st(Mem8::Hl, D);
    b.dec(H);
}

/// SP = the record of column l in the next layer (table page `recs`); hl kept.
fn record_sp(b: &mut Builder, recs: u8) {
    column_sp(b, L, recs);
}

/// SP = the record of column `reg` (table page `recs`); hl kept, de and a not.
fn column_sp(b: &mut Builder, reg: Reg8, recs: u8) {
    b.ld(E, reg);
    b.ld(D, recs);
    b.ld_a_ptr(BcDe::DE);
    b.inc(D);
    b.inst(Inst::ExDeHl);
    b.ld(H, Src8::Hl);
    b.ld(L, A);
    b.ld_sp(HlIx::HL);
    b.inst(Inst::ExDeHl);
}

/// Jump to the scatter routine for x = de (SP at the record, h = accumulator page).
fn dispatch_de(b: &mut Builder) {
    b.ld(A, D);
    b.alu(AluOp::Or, A);
    b.jp_cc(Cond::NZ, "zs_gen");
    b.ld(C, E);
    b.jp("zs_pos");
}

/// The last layer's epilogue: outputs to zout, and the first maximum's index.
fn last_epilogue(b: &mut Builder, l: &FusedLayer, k: usize, mem: &MemoryMap, bias: Expr) {
    let (zbhi, zblo, zcls) = (mem.vars.best_hi, mem.vars.best_lo, mem.vars.class);
    b.ld16(Reg16::SP, bias);
    b.ld16(Reg16::HL, mem.acc[k]);
    b.ld16(Reg16::IX, mem.zout);
    b.alu(AluOp::Xor, A);
    b.ld_mem_a(zbhi);
    b.ld_mem_a(zblo);
    b.ld_mem_a(zcls);
    row_loop(b, l.rows(), &format!("l{k}"));
    if l.relu() {
        b.alu(AluOp::Or, A);
        b.jp_cc(Cond::P, format!("l{k}_pos"));
        b.alu(AluOp::Xor, A);
        b.ld(C, A);
        b.label(format!("l{k}_pos"));
    }
    shift_ac(b, l.shift);
    other_activation(b, l, k, &format!("l{k}"), mem);
    b.st(Idx::ix(0), C);
    b.st(Idx::ix(1), A);
    b.inc16(Reg16::IX);
    b.inc16(Reg16::IX);
    b.alu(AluOp::Xor, 128);
    b.ld(D, A);
    b.ld_a_mem(zbhi);
    b.alu(AluOp::Cp, D);
    b.jr_cc(JrCond::C, format!("l{k}_better"));
    b.jr_cc(JrCond::NZ, format!("l{k}_epnext"));
    b.ld_a_mem(zblo);
    b.alu(AluOp::Cp, C);
    b.jr_cc(JrCond::NC, format!("l{k}_epnext"));
    b.label(format!("l{k}_better"));
    b.ld(A, D);
    b.ld_mem_a(zbhi);
    b.ld(A, C);
    b.ld_mem_a(zblo);
    b.ld(A, L);
    b.ld_mem_a(zcls);
    b.label(format!("l{k}_epnext"));
    b.inc(L);
    b.dec(B);
    b.jp_cc(Cond::NZ, format!("l{k}_eplp"));
}

/// A scan over `zin[words]` a page of columns at a time, the code after
/// `TAG_found` from `found` (given the page's tag and columns; it ends
/// going on at `TAG_next`).
fn pages_scan(
    b: &mut Builder,
    tag: &str,
    words: Range<usize>,
    found: impl Fn(&mut Builder, &str, &Range<usize>),
) {
    for (i, run) in page_runs(words).iter().enumerate() {
        let tag = paged(tag, i);
        b.ld16(Reg16::HL, zin_word(run.start));
        scan_loop(b, &tag, run);
        b.jr(format!("{tag}_scanned"));
        b.label(format!("{tag}_found"));
        found(b, &tag, run);
        b.label(format!("{tag}_scanned"));
    }
}

/// The non-zero words of `zin[words]` become the query's active list:
/// `db column's low byte, its table page` `dw x` each, a 0 page last.
fn scan(b: &mut Builder, tag: &str, words: Range<usize>, mem: &MemoryMap) {
    b.ld16(Reg16::IX, mem.act);
    pages_scan(b, tag, words, |b, tag, run| {
        b.st(Idx::ix(0), C);
        b.st_imm(Idx::ix(1), (mem.table(0, run.start) >> 8) as i32);
        b.dec16(Reg16::HL);
        b.ld(A, Src8::Hl);
        b.st(Idx::ix(3), A);
        b.dec16(Reg16::HL);
        b.ld(A, Src8::Hl);
        b.st(Idx::ix(2), A);
        b.inc16(Reg16::HL);
        b.inc16(Reg16::HL);
        b.ld16(Reg16::DE, 4);
        b.add_idx(Index::IX, Pair::DE);
        b.jr(format!("{tag}_next"));
    });
    b.st_imm(Idx::ix(1), 0);
    b.ld16(Reg16::HL, mem.act);
    b.st16_mem(mem.vars.act_ptr, Reg16::HL);
}

/// `model_step`'s entry: interrupts off (the kernels borrow IY, through
/// which the Spectrum's frame interrupt reaches the system variables),
/// whether they were on kept at `iff` (a lost).
pub(crate) fn interrupts_off(b: &mut Builder, iff: u16) {
    b.inst(Inst::LdAI);
    b.inst(Inst::Di);
    b.ld(A, 0);
    b.jp_cc(Cond::PO, "ms_wasdi");
    b.inc(A);
    b.label("ms_wasdi");
    b.ld_mem_a(iff);
}

/// `model_step`'s exit: interrupts back on if `iff` says they were, the
/// class at `class` in a, return.
pub(crate) fn return_class(b: &mut Builder, iff: u16, class: u16) {
    b.ld_a_mem(iff);
    b.alu(AluOp::Or, A);
    b.jr_cc(JrCond::Z, "ms_noei");
    b.inst(Inst::Ei);
    b.label("ms_noei");
    b.ld_a_mem(class);
    b.ret();
}

/// Arithmetic shift right of a:c by `n` (`n` < 16).
pub(super) fn shift_ac(b: &mut Builder, n: u32) {
    let mut n = n;
    if n >= 8 {
        b.ld(C, A);
        b.inst(Inst::Rla);
        b.alu(AluOp::Sbc, A);
        n -= 8;
    }
    for _ in 0..n {
        b.rot(RotOp::Sra, A);
        b.rot(RotOp::Rr, C);
    }
}

/// Bias words and the column records kept in the program with their
/// addresses, per layer.
fn tables(b: &mut Builder, layers: &[FusedLayer], split: Option<&Split>, blob: &Blob) {
    b.comment("---- tables ----");
    for (k, l) in layers.iter().enumerate() {
        // Layer 1's query columns are read once per reply, nibble-coded
        // layers' columns at every step: compact. Ready ones need no set-up.
        for part in image_records(k, l, split, blob) {
            let (list, recs) = image_labels(k, &part);
            b.label(list);
            if part.by_length() {
                b.db_lines(
                    &part.lengths().iter().map(|&n| n as u8).collect::<Vec<u8>>(),
                    16,
                );
            } else {
                let mut at = 0;
                let addrs: Vec<Expr> = part
                    .lengths()
                    .iter()
                    .map(|n| {
                        let a = Expr::sym(recs.clone()).plus(Expr::Num(at as i32));
                        at += n;
                        a
                    })
                    .collect();
                for chunk in addrs.chunks(8) {
                    b.dw(chunk.iter().cloned());
                }
            }
            b.label(recs);
            for piece in part.recs.iter().flatten() {
                match piece {
                    ReadyPart::Bytes(bytes) => b.db_lines(bytes, 16),
                    ReadyPart::Entry(lp, slot) => b.dw([format!("{lp}_{slot}")]),
                }
            }
        }
    }
    for (k, l) in layers.iter().enumerate() {
        b.label(format!("l{k}_bias"));
        for chunk in l.bias.chunks(12) {
            b.dw(chunk.iter().map(|&w| w as u16));
        }
    }
    for (k, l) in layers.iter().enumerate() {
        if let Some(act) = &l.activation {
            activation_table(b, act, &activation_label(k));
        }
    }
}

/// The scan over `zin[words]` from hl: b counts the words, c is the word's
/// index, a non-zero word jumps to `TAG_found` with hl past it, and `TAG_next`
/// goes on with the next one.
fn scan_loop(b: &mut Builder, tag: &str, words: &Range<usize>) {
    b.ld(B, (words.len() % 256) as i32);
    b.ld(C, (words.start % 256) as i32);
    b.label(format!("{tag}_scan"));
    // zin is page-aligned, so a word never straddles a page: `inc l` to its
    // high byte (the `or` sets the flags after it), `inc hl` past it.
    b.ld(A, Src8::Hl);
    b.inc(L);
    b.alu(AluOp::Or, Src8::Hl);
    b.inc16(Reg16::HL);
    b.jr_cc(JrCond::NZ, format!("{tag}_found"));
    b.label(format!("{tag}_next"));
    b.inc(C);
    b.djnz(format!("{tag}_scan"));
}

/// `zin+2*first`: where input word `first` is (printed as a sum even for 0).
fn zin_word(first: usize) -> Expr {
    Expr::sym("zin").plus(Expr::Num(2 * first as i32))
}
