//! The shared scatter loops: one column's +1 and −1 rows get x added or
//! subtracted, entered through the record's entry addresses (see [`scatter_routines`]).

use super::build::Builder;
use super::expr::Expr;
use super::isa::Reg8::{A, B, C, D, E, H, L};
use super::isa::{AluOp, Cond, HlIx, Inst, JrCond, Loc8, Mem8, Reg16, Reg8, Src8, StackReg};
use super::seq::{add_de_to_row, negate_de};

/// The shared inner loops. On entry SP points at a column record, H is the
/// layer's accumulator page, IY is where to go when the column is done.
///
/// A record is `db turns_plus, turns_minus` `dw entry_plus`, the +1 rows,
/// `dw entry_minus`, the −1 rows; a `ret` jumps to an entry. Each loop turn takes four rows, two per
/// `pop`; a list of n rows enters its loop at the slot that leaves n mod 4
/// rows for the first turn (odd lists lead with a junk byte the entry skips),
/// and an empty list's entry is its loop's exit. So a column costs no count
/// arithmetic and no padding rows.
pub fn scatter_routines(b: &mut Builder, multi: bool) {
    b.label("zs_pos");
    start_column(b);
    loop8(b, "zsa", AluOp::Add);
    // The +1 rows are done: on to the −1 rows' entry, turns in a'.
    b.inst(Inst::ExAf);
    b.ld(B, A);
    b.ret();
    loop8_stubs(b, "zsa", AluOp::Add, Inst::Inc(Loc8::Hl));
    // The −1 loop in one copy per kind of segment end (see `coding::Next`):
    // the column is done, or the next segment follows, on this page or the
    // next. The copies' bodies come first, together, so the general scatter
    // tells their 15 entries apart by their low bytes.
    // The plain loop's carry fixes go before the bodies, within a jr's
    // reach; the copies reach theirs after them by jp.
    let fix = || Inst::Dec(Loc8::Hl);
    if multi {
        loop8_stubs(b, "zss", AluOp::Sub, fix());
    }
    loop8(b, "zss", AluOp::Sub);
    b.jp_ind(HlIx::IY);
    if multi {
        loop8_far(b, "zsk", AluOp::Sub, true);
        b.jp("zs_pos");
        loop8_far(b, "zsn", AluOp::Sub, true);
        b.inc(H);
        b.inc(H);
        b.jp("zs_pos");
        loop8_stubs(b, "zsk", AluOp::Sub, fix());
        loop8_stubs(b, "zsn", AluOp::Sub, fix());
    } else {
        loop8_stubs(b, "zss", AluOp::Sub, fix());
    }
    // Any other x, in de: 16-bit adds of x to the +1 rows and of -x to the
    // −1 rows, through loops of the same slots (found from the entries' low
    // bytes); the turn counter lives in memory, b and c hold rows.
    b.label("zs_gen");
    b.pop(StackReg::BC);
    b.pop(StackReg::IX);
    b.ld(A, B);
    b.ld_mem_a("zs_turnsm");
    b.ld(A, C);
    gen_list(b, &["zsa"], "zgp");
    b.pop(StackReg::IX);
    negate_de(b);
    b.ld_a_mem("zs_turnsm");
    gen_list(b, minus_loops(multi), "zgm");
    if multi {
        // A segment follows: x back in de, the page moved, the next segment.
        b.ld_a_mem("zs_chain");
        b.alu(AluOp::Or, A);
        b.jr_cc(JrCond::NZ, "zg_more");
        b.jp_ind(HlIx::IY);
        b.label("zg_more");
        b.alu(AluOp::Cp, 1);
        b.jr_cc(JrCond::Z, "zg_same");
        b.inc(H);
        b.inc(H);
        b.label("zg_same");
        b.alu(AluOp::Xor, A);
        b.ld_mem_a("zs_chain");
        negate_de(b);
        b.jp("zs_gen");
        for (name, kind) in [("zsk", 1), ("zsn", 2)] {
            for slot in SLOTS {
                b.label(format!("{name}_g{slot}"));
                b.ld(A, kind);
                b.ld_mem_a("zs_chain");
                b.jp(format!("zgm_{slot}"));
            }
        }
        b.label("zs_chain");
        b.db([0u8]);
    } else {
        b.jp_ind(HlIx::IY);
    }
    b.label("zs_count");
    b.db([0u8]);
    b.label("zs_turnsm");
    b.db([0u8]);
    b.label("zs_entry");
    b.dw([0u16]);
}

/// Scatter x = c (1 <= x <= 255) by the column record at SP: the +1 rows'
/// turns into b, the −1 rows' into a', then on to the +1 rows' entry. The
/// epilogues and the input scan emit it in place of a jump to `zs_pos`.
pub fn start_column(b: &mut Builder) {
    b.pop(StackReg::DE);
    b.ld(B, E);
    b.ld(A, D);
    b.inst(Inst::ExAf);
    b.ret();
}

/// The −1 loops: the plain one, and with segments its two chaining copies.
fn minus_loops(multi: bool) -> &'static [&'static str] {
    if multi {
        &["zss", "zsk", "zsn"]
    } else {
        &["zss"]
    }
}

/// The four entry slots of a loop, and its exit, as record entries name them.
const SLOTS: [&str; 5] = ["s0", "e1", "s2", "e3", "x"];

/// Four rows per turn of `op` on x = c, carries to the high page out of line.
fn loop8(b: &mut Builder, name: &str, op: AluOp) {
    loop8_far(b, name, op, false);
}

/// [`loop8`], its carry fixes reached by `jp c` if `far`.
fn loop8_far(b: &mut Builder, name: &str, op: AluOp, far: bool) {
    slot_loop(b, name, StackReg::DE, |b, slot, row| {
        b.ld(L, row);
        b.ld(A, Src8::Hl);
        b.alu(op, C);
        b.st(Mem8::Hl, A);
        if far {
            b.jp_cc(Cond::C, format!("{name}_c{slot}"));
        } else {
            b.jr_cc(JrCond::C, format!("{name}_c{slot}"));
        }
    });
    b.djnz(format!("{name}_s0"));
    b.label(format!("{name}_x"));
}

/// The entry slots every scatter loop shares: rows popped into `pair` two at
/// a time, `row` emitting one row's work, four rows a turn; `_e1`/`_e3` pop a
/// pair whose first byte is junk and go on with its second.
fn slot_loop(b: &mut Builder, name: &str, pair: StackReg, row: impl Fn(&mut Builder, usize, Reg8)) {
    let (first, second) = match pair {
        StackReg::DE => (E, D),
        _ => (C, B),
    };
    for odd in [1, 3] {
        b.label(format!("{name}_e{odd}"));
        b.pop(pair);
        b.jp(format!("{name}_s{odd}"));
    }
    b.label(format!("{name}_s0"));
    for slot in 0..4 {
        if slot == 2 {
            b.label(format!("{name}_s2"));
        }
        if slot % 2 == 0 {
            b.pop(pair);
        } else {
            b.label(format!("{name}_s{slot}"));
        }
        row(b, slot, if slot % 2 == 0 { first } else { second });
    }
}

/// `loop8`'s carry fixes: `fix` on the high byte, then the rest of the turn
/// again (a jump back would cost more than the copy).
fn loop8_stubs(b: &mut Builder, name: &str, op: AluOp, fix: Inst) {
    for slot in 0..4 {
        b.label(format!("{name}_c{slot}"));
        b.inc(H);
        b.inst(fix.clone());
        b.dec(H);
        for next in slot + 1..4 {
            if next == 2 {
                b.pop(StackReg::DE);
            }
            b.ld(L, if next % 2 == 0 { E } else { D });
            b.ld(A, Src8::Hl);
            b.alu(op, C);
            b.st(Mem8::Hl, A);
            b.jr_cc(JrCond::C, format!("{name}_c{next}"));
        }
        b.dec(B);
        b.jp_cc(Cond::NZ, format!("{name}_s0"));
        b.jp(format!("{name}_x"));
    }
}

/// Jump to the slot of loop `to` that matches entry (low byte in a) of one
/// of the loops `from`: the first one's slots go straight to `to`'s, the
/// others' through their `NAME_gSLOT` stubs, which note the segment's end.
fn slot_map(b: &mut Builder, from: &[&str], to: &str) {
    for (i, name) in from.iter().enumerate() {
        for slot in SLOTS {
            b.alu(AluOp::Cp, Expr::sym(format!("{name}_{slot}")).low());
            if i == 0 {
                b.jp_cc(Cond::Z, format!("{to}_{slot}"));
            } else {
                b.jp_cc(Cond::Z, format!("{name}_g{slot}"));
            }
        }
    }
}

/// One list of the general scatter: turns in a, entry in ix (an entry of
/// one of the loops `from`), run through loop `to`.
fn gen_list(b: &mut Builder, from: &[&str], to: &str) {
    b.ld_mem_a("zs_count");
    b.st16_mem("zs_entry", Reg16::IX);
    b.ld_a_mem("zs_entry");
    slot_map(b, from, to);
    gen_loop(b, to);
}

/// `loop8`'s slots with 16-bit adds of de, turns counted in memory.
fn gen_loop(b: &mut Builder, name: &str) {
    slot_loop(b, name, StackReg::BC, |b, _, row| {
        b.ld(L, row);
        b.ld(A, Src8::Hl);
        add_de_to_row(b);
    });
    b.ld_a_mem("zs_count");
    b.dec(A);
    b.ld_mem_a("zs_count");
    b.jr_cc(JrCond::NZ, format!("{name}_s0"));
    b.label(format!("{name}_x"));
}
