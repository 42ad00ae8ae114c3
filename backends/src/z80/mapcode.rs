//! The inference code of a feature-map model (see `mapplan.rs`): per layer,
//! an optional padded copy of its input and a loop over output channels,
//! rows and columns that calls one element kernel per output element and
//! runs the layer's epilogue on its result; then the argmax.
//!
//! The element kernels are shared subroutines that walk the output channel's
//! tap list (`dw` its multiply routine, `dw` the byte offset of the input
//! element it reads from the window's first, per non-zero weight; a 0 word
//! last): `zk_mac16` and `zk_mac32` (Σ w·x from the bias, each product by
//! `zm_pN`/`zm_nN`, a straight-line multiply by the constant ±N, one per
//! distinct weight), `zk_max`, and `zk_scale` for average pooling (the
//! exact sum times `mul`, shifted, on 40 bits).

use super::activation::{activate, activation_table, ActivationSite};
use super::build::Builder;
use super::expr::Expr;
use super::isa::Reg8::{A, B, C, D, E, H, L};
use super::isa::{AluOp, Cond, Idx, Index, Inst, JrCond, Mem8, Pair, Reg16, RotOp, Src8, StackReg};
use super::mapplan::{Buf, BufferPlan, Kernel, MapLayer, Placed};
use super::model::{interrupts_off, return_class, shift_ac};
use crate::lowered::Activation;
use zlmc_ir::Elem;

/// The step's variables, in the variables' page above the front-end's line buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapVars {
    /// The caller's interrupt state: 1 if interrupts were enabled.
    pub iff: u16,
    /// The argmax's result.
    pub class: u16,
    /// The current output channel's tap list.
    pub tap: u16,
    /// Past the end of the tap list the kernel last walked.
    pub tend: u16,
    /// Where the next output element goes.
    pub out: u16,
    /// The first element of the current output row's first window.
    pub row: u16,
    /// The first element of the current window.
    pub base: u16,
    /// Output channels left.
    pub oc: u16,
    /// Rows left.
    pub yc: u16,
    /// Columns left.
    pub xc: u16,
    /// The current output channel's bias (4 bytes, little-endian).
    pub biasp: u16,
    /// The accumulator (4 bytes).
    pub acc: u16,
    /// A scratch word for the activations.
    pub save: u16,
    /// `zk_scale`'s product (5 bytes) and shifted sum (5 bytes).
    pub scale: u16,
}

impl MapVars {
    /// The variables from `at` (36 bytes).
    pub fn at(at: u16) -> MapVars {
        MapVars {
            iff: at,
            class: at + 1,
            tap: at + 2,
            tend: at + 4,
            out: at + 6,
            row: at + 8,
            base: at + 10,
            oc: at + 12,
            yc: at + 14,
            xc: at + 16,
            biasp: at + 18,
            acc: at + 20,
            save: at + 24,
            scale: at + 26,
        }
    }
}

/// Where each buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufAddrs {
    /// The input.
    pub zin: u16,
    /// Buffer A.
    pub a: u16,
    /// Buffer B.
    pub b: u16,
}

impl BufAddrs {
    /// The address of `buf`.
    pub fn of(&self, buf: Buf) -> u16 {
        match buf {
            Buf::Zin => self.zin,
            Buf::A => self.a,
            Buf::B => self.b,
        }
    }
}

/// `model_init`, `model_query`, `model_step` and the routines and tables they use.
pub fn map_model_code(
    b: &mut Builder,
    layers: &[MapLayer],
    plan: &BufferPlan,
    addrs: &BufAddrs,
    v: &MapVars,
    argmax: bool,
) {
    b.comment("---- model_init, model_query: nothing to set up ----");
    b.label("model_init");
    b.label("model_query");
    b.ret();
    b.comment("---- model_step: one inference on zin; returns the class in a ----");
    b.label("model_step");
    interrupts_off(b, v.iff);
    for (k, (l, p)) in layers.iter().zip(&plan.placed).enumerate() {
        layer_loop(b, k, l, p, addrs, v);
    }
    if argmax {
        let last = layers.last().map_or(0, |l| l.output.len());
        argmax_code(b, addrs.of(plan.last()), last, v);
    }
    b.comment("---- back to the caller, interrupts as they were ----");
    return_class(b, v.iff, v.class);
    kernel_routines(b, layers, v);
    tables(b, layers);
}

/// `ld hl,n` / `ld (at),hl`.
fn set_word(b: &mut Builder, at: u16, n: impl Into<Expr>) {
    b.ld16(Reg16::HL, n);
    b.st16_mem(at, Reg16::HL);
}

/// The word at `at` counted down, going to `to` while it is not 0 (hl, a lost).
fn count_down(b: &mut Builder, at: u16, to: &str) {
    decrement_word(b, at);
    b.jp_cc(Cond::NZ, to);
}

/// [`count_down`] with hl kept (a lost).
fn count_down_keeping_hl(b: &mut Builder, at: u16, to: &str) {
    b.push(StackReg::HL);
    decrement_word(b, at);
    // `pop` leaves the flags of `or l` alone.
    b.pop(StackReg::HL);
    b.jp_cc(Cond::NZ, to);
}

/// The word at `at` minus 1, Z set when it reaches 0 (hl, a lost).
fn decrement_word(b: &mut Builder, at: u16) {
    b.ld16_mem(Reg16::HL, at);
    b.dec16(Reg16::HL);
    b.st16_mem(at, Reg16::HL);
    b.ld(A, H);
    b.alu(AluOp::Or, L);
}

/// The word at `at` += `n` (hl, de lost).
fn add_word(b: &mut Builder, at: u16, n: usize) {
    b.ld16_mem(Reg16::HL, at);
    b.ld16(Reg16::DE, n as u16);
    b.add_hl(Pair::DE);
    b.st16_mem(at, Reg16::HL);
}

/// de += n (hl kept).
fn add_de(b: &mut Builder, n: usize) {
    if n == 0 {
        return;
    }
    b.inst(Inst::ExDeHl);
    b.ld16(Reg16::BC, n as u16);
    b.add_hl(Pair::BC);
    b.inst(Inst::ExDeHl);
}

/// Layer `k`'s input copied into its padded buffer: filled with the
/// padding's value, then each row copied into place.
fn pad_copy(b: &mut Builder, k: usize, l: &MapLayer, from: u16, to: u16, v: &MapVars) {
    let d = l.read_dims();
    let [t, left, bottom, _] = l.pads;
    let n = d.len();
    let fill = l.kernel.pad_fill() as u16;
    b.comment(format!(
        "---- layer {}: its input padded to {}×{}×{} ----",
        k + 1,
        d.c,
        d.h,
        d.w
    ));
    b.ld16(Reg16::HL, to);
    b.st_imm(Mem8::Hl, (fill & 0xFF) as i32);
    b.inc16(Reg16::HL);
    b.st_imm(Mem8::Hl, (fill >> 8) as i32);
    if n > 1 {
        b.ld16(Reg16::HL, to);
        b.ld16(Reg16::DE, to + 2);
        b.ld16(Reg16::BC, (2 * n - 2) as u16);
        b.inst(Inst::Ldir);
    }
    b.ld16(Reg16::DE, to + (2 * (t * d.w + left)) as u16);
    set_word(b, v.oc, l.input.c as u16);
    b.ld16(Reg16::HL, from);
    b.label(format!("m{k}_pc"));
    b.push(StackReg::HL);
    set_word(b, v.yc, l.input.h as u16);
    b.pop(StackReg::HL);
    b.label(format!("m{k}_pr"));
    b.ld16(Reg16::BC, (2 * l.input.w) as u16);
    b.inst(Inst::Ldir);
    add_de(b, 2 * (d.w - l.input.w));
    count_down_keeping_hl(b, v.yc, &format!("m{k}_pr"));
    add_de(b, 2 * (t + bottom) * d.w);
    count_down_keeping_hl(b, v.oc, &format!("m{k}_pc"));
}

/// Layer `k`: for each output channel, row and column, its kernel over the
/// window, the epilogue, the output stored.
fn layer_loop(b: &mut Builder, k: usize, l: &MapLayer, p: &Placed, at: &BufAddrs, v: &MapVars) {
    if let Some((from, to)) = p.pad {
        pad_copy(b, k, l, at.of(from), at.of(to), v);
    }
    b.comment(format!(
        "---- layer {}: {} {}×{}×{} -> {}×{}×{} ----",
        k + 1,
        if l.dense { "dense" } else { l.kernel.name() },
        l.input.c,
        l.input.h,
        l.input.w,
        l.output.c,
        l.output.h,
        l.output.w
    ));
    set_word(b, v.tap, format!("m{k}_taps"));
    if !matches!(l.kernel, Kernel::Max) {
        set_word(b, v.biasp, format!("m{k}_bias"));
    }
    set_word(b, v.out, at.of(p.dst));
    set_word(b, v.oc, l.output.c as u16);
    channel_head(b, k, at.of(p.src), l, v);
    row_head(b, k, l, v);
    pixel(b, k, l, v);
    row_tail(b, k, l, v);
    channel_tail(b, k, l, v);
}

/// An output channel's start: its first row.
pub(super) fn channel_head(b: &mut Builder, k: usize, src: u16, l: &MapLayer, v: &MapVars) {
    b.label(format!("m{k}_ch"));
    set_word(b, v.row, src);
    set_word(b, v.yc, l.output.h as u16);
}

/// An output row's start: its first window.
pub(super) fn row_head(b: &mut Builder, k: usize, l: &MapLayer, v: &MapVars) {
    b.label(format!("m{k}_row"));
    b.ld16_mem(Reg16::HL, v.row);
    b.st16_mem(v.base, Reg16::HL);
    set_word(b, v.xc, l.output.w as u16);
}

/// An output row's end: on to the next row.
pub(super) fn row_tail(b: &mut Builder, k: usize, l: &MapLayer, v: &MapVars) {
    add_word(b, v.row, 2 * l.stride[0] * l.read_dims().w);
    count_down(b, v.yc, &format!("m{k}_row"));
}

/// An output channel's end: its tap list and bias passed, on to the next.
pub(super) fn channel_tail(b: &mut Builder, k: usize, l: &MapLayer, v: &MapVars) {
    b.ld16_mem(Reg16::HL, v.tend);
    b.st16_mem(v.tap, Reg16::HL);
    if !matches!(l.kernel, Kernel::Max) {
        add_word(b, v.biasp, 4);
    }
    count_down(b, v.oc, &format!("m{k}_ch"));
}

/// One output element: the kernel, the epilogue, the element stored, the
/// window moved on.
pub(super) fn pixel(b: &mut Builder, k: usize, l: &MapLayer, v: &MapVars) {
    b.label(format!("m{k}_px"));
    match l.kernel {
        Kernel::Mac { acc: Elem::I16 } => {
            b.call("zk_mac16");
            b.ld16_mem(Reg16::HL, v.acc);
            b.ld(A, H);
            b.ld(C, L);
            shift_ac(b, l.shift);
        }
        Kernel::Mac { acc: Elem::I32 } | Kernel::Avg { .. } => {
            b.call("zk_mac32");
            if let Kernel::Avg { mul, shift } = l.kernel {
                b.ld(C, mul as i32);
                b.ld(B, shift as i32);
                b.call("zk_scale");
            } else {
                shift_acc32(b, k, l.shift, v);
            }
        }
        Kernel::Max => {
            b.call("zk_max");
            b.ld16_mem(Reg16::HL, v.acc);
            b.ld(A, H);
            b.ld(C, L);
        }
    }
    match &l.activation {
        None => {}
        Some(Activation::Relu) => {
            b.alu(AluOp::Or, A);
            b.jp_cc(Cond::P, format!("m{k}_pos"));
            b.alu(AluOp::Xor, A);
            b.ld(C, A);
            b.label(format!("m{k}_pos"));
        }
        Some(act) => {
            let tag = format!("m{k}");
            let table = format!("m{k}_act");
            let site = ActivationSite {
                tag: &tag,
                table: &table,
                save: v.save,
            };
            activate(b, act, &site);
        }
    }
    b.ld16_mem(Reg16::HL, v.out);
    b.st(Mem8::Hl, C);
    b.inc16(Reg16::HL);
    b.st(Mem8::Hl, A);
    b.inc16(Reg16::HL);
    b.st16_mem(v.out, Reg16::HL);
    add_word(b, v.base, 2 * l.stride[1]);
    count_down(b, v.xc, &format!("m{k}_px"));
}

/// A 32-bit shift by `n` as whole bytes first (bits 8.. or 16.. of the
/// accumulator read), then the rest bit by bit: (bytes, bits).
pub(super) fn acc32_shift_parts(n: u32) -> (u16, u32) {
    match n {
        0..=7 => (0, n),
        8..=15 => (1, n - 8),
        _ => (2, n - 16),
    }
}

/// a:c = the 32-bit accumulator shifted right by `n`, wrapped to 16 bits.
fn shift_acc32(b: &mut Builder, k: usize, n: u32, v: &MapVars) {
    let (from, rest) = acc32_shift_parts(n);
    b.ld16_mem(Reg16::HL, v.acc + from);
    if from == 2 {
        // Bits 16..31: the sign of the top byte fills the bits above.
        b.ld(A, H);
        b.inst(Inst::Rla);
        b.alu(AluOp::Sbc, A);
        b.ld(D, A);
        b.ld(E, A);
    } else {
        b.ld16_mem(Reg16::DE, v.acc + from + 2);
    }
    if rest > 0 {
        b.ld(B, rest as i32);
        b.label(format!("m{k}_sh"));
        b.rot(RotOp::Sra, D);
        b.rot(RotOp::Rr, E);
        b.rot(RotOp::Rr, H);
        b.rot(RotOp::Rr, L);
        b.djnz(format!("m{k}_sh"));
    }
    b.ld(A, H);
    b.ld(C, L);
}

/// The first largest of the `n` outputs at `from` into the class (n ≤ 256).
fn argmax_code(b: &mut Builder, from: u16, n: usize, v: &MapVars) {
    b.comment("---- argmax: the first largest output ----");
    b.alu(AluOp::Xor, A);
    b.ld_mem_a(v.class);
    if n <= 1 {
        return;
    }
    b.ld16(Reg16::IX, from);
    b.ld(E, Idx::ix(0));
    b.ld(D, Idx::ix(1));
    b.ld(B, (n - 1) as i32);
    b.ld(C, 1);
    b.label("am_lp");
    b.inc16(Reg16::IX);
    b.inc16(Reg16::IX);
    // Signed order as unsigned with the sign bits flipped.
    b.ld(A, Idx::ix(1));
    b.alu(AluOp::Xor, 0x80);
    b.ld(H, A);
    b.ld(A, D);
    b.alu(AluOp::Xor, 0x80);
    b.alu(AluOp::Cp, H);
    b.jr_cc(JrCond::C, "am_take");
    b.jr_cc(JrCond::NZ, "am_next");
    b.ld(A, E);
    b.alu(AluOp::Cp, Idx::ix(0));
    b.jr_cc(JrCond::NC, "am_next");
    b.label("am_take");
    b.ld(E, Idx::ix(0));
    b.ld(D, Idx::ix(1));
    b.ld(A, C);
    b.ld_mem_a(v.class);
    b.label("am_next");
    b.inc(C);
    b.djnz("am_lp");
}

/// The window's next tap (`dw` its multiply routine, `dw` its offset):
/// after the list's end (a 0 word) on to `end`; else a = the routine's high
/// byte and de = the input element it reads (hl lost).
pub(super) fn next_tap(b: &mut Builder, v: &MapVars, end: &str) {
    b.ld(A, Idx::iy(1));
    b.alu(AluOp::Or, A);
    b.jr_cc(JrCond::Z, end);
    b.ld16_mem(Reg16::HL, v.base);
    b.ld(E, Idx::iy(2));
    b.ld(D, Idx::iy(3));
    b.add_hl(Pair::DE);
    b.ld(E, Src8::Hl);
    b.inc16(Reg16::HL);
    b.ld(D, Src8::Hl);
}

/// The tap's multiply routine called (a = its high byte): a:hl = de·w.
pub(super) fn call_mul(b: &mut Builder) {
    b.ld(H, A);
    b.ld(L, Idx::iy(0));
    b.call("zk_jp");
}

/// iy past this tap, and back to `to`.
pub(super) fn tap_done(b: &mut Builder, to: &str) {
    b.ld16(Reg16::DE, 4);
    b.add_idx(Index::IY, Pair::DE);
    b.jr(to);
}

/// The list walked: `tend` past its 0 word (then the kernel returns).
pub(super) fn list_end(b: &mut Builder, v: &MapVars) {
    b.inc16(Reg16::IY);
    b.inc16(Reg16::IY);
    b.st16_mem(v.tend, Reg16::IY);
}

/// A multiply-accumulate kernel's start: iy at the tap list, acc = the
/// bias (`wide`: 4 bytes, else 2).
pub(super) fn mac_head(b: &mut Builder, v: &MapVars, wide: bool) {
    b.ld16_mem(Reg16::IY, v.tap);
    b.ld16_mem(Reg16::HL, v.biasp);
    b.ld(E, Src8::Hl);
    b.inc16(Reg16::HL);
    b.ld(D, Src8::Hl);
    b.st16_mem(v.acc, Reg16::DE);
    if wide {
        b.inc16(Reg16::HL);
        b.ld(E, Src8::Hl);
        b.inc16(Reg16::HL);
        b.ld(D, Src8::Hl);
        b.st16_mem(v.acc + 2, Reg16::DE);
    }
}

/// The product a:hl added to acc (`wide`: all 32 bits, else the low 16).
pub(super) fn mac_add(b: &mut Builder, v: &MapVars, wide: bool) {
    if wide {
        // The product's bits 16..31: its top byte and its sign.
        b.ld(C, A);
        b.inst(Inst::Rla);
        b.alu(AluOp::Sbc, A);
        b.ld(B, A);
    }
    b.ld16_mem(Reg16::DE, v.acc);
    b.add_hl(Pair::DE);
    b.st16_mem(v.acc, Reg16::HL);
    if wide {
        b.ld16_mem(Reg16::HL, v.acc + 2);
        b.inst(Inst::AdcHl(Pair::BC));
        b.st16_mem(v.acc + 2, Reg16::HL);
    }
}

/// The element kernels the layers use.
fn kernel_routines(b: &mut Builder, layers: &[MapLayer], v: &MapVars) {
    let uses = |f: &dyn Fn(Kernel) -> bool| layers.iter().any(|l| f(l.kernel));
    let mac16 = uses(&|k| k == Kernel::Mac { acc: Elem::I16 });
    let mac32 = uses(&|k| matches!(k, Kernel::Mac { acc: Elem::I32 } | Kernel::Avg { .. }));
    for (wide, name) in [(false, "16"), (true, "32")] {
        if !(if wide { mac32 } else { mac16 }) {
            continue;
        }
        b.comment(format!(
            "---- zk_mac{name}: acc ({name} bits) = bias + Σ w·x over the tap list ----"
        ));
        b.label(format!("zk_mac{name}"));
        mac_head(b, v, wide);
        b.label(format!("zk_m{name}_tap"));
        next_tap(b, v, &format!("zk_m{name}_end"));
        call_mul(b);
        mac_add(b, v, wide);
        tap_done(b, &format!("zk_m{name}_tap"));
        b.label(format!("zk_m{name}_end"));
        list_end(b, v);
        b.ret();
    }
    if mac16 || mac32 {
        b.comment("---- zk_jp: a tap's multiply, called; zm_pN, zm_nN: a:hl = de * (+-N) ----");
        b.label("zk_jp");
        b.jp_ind(super::isa::HlIx::HL);
        let mut ws: Vec<i8> = layers
            .iter()
            .filter(|l| l.kernel != Kernel::Max)
            .flat_map(|l| l.taps.iter().flatten().map(|t| t.w))
            .collect();
        ws.sort_unstable();
        ws.dedup();
        for w in ws {
            b.label(mul_label(w));
            mul_by(b, w);
        }
    }
    if uses(&|k| k == Kernel::Max) {
        b.comment("---- zk_max: acc = the largest element over the tap list ----");
        b.label("zk_max");
        b.ld16_mem(Reg16::IY, v.tap);
        b.ld16(Reg16::BC, 0x8000);
        b.label("zk_mx_tap");
        next_tap(b, v, "zk_mx_end");
        max_step(b);
        tap_done(b, "zk_mx_tap");
        b.label("zk_mx_end");
        list_end(b, v);
        b.st16_mem(v.acc, Reg16::BC);
        b.ret();
    }
    if uses(&|k| matches!(k, Kernel::Avg { .. })) {
        scale_routine(b, v);
    }
}

/// bc = de if de is the larger (signed: unsigned with the sign bits flipped).
pub(super) fn max_step(b: &mut Builder) {
    b.ld(A, D);
    b.alu(AluOp::Xor, 0x80);
    b.ld(H, A);
    b.ld(A, B);
    b.alu(AluOp::Xor, 0x80);
    b.alu(AluOp::Cp, H);
    b.jr_cc(JrCond::C, "zk_mx_take");
    b.jr_cc(JrCond::NZ, "zk_mx_next");
    b.ld(A, C);
    b.alu(AluOp::Cp, E);
    b.jr_cc(JrCond::NC, "zk_mx_next");
    b.label("zk_mx_take");
    b.ld(B, D);
    b.ld(C, E);
    b.label("zk_mx_next");
}

/// The label of the multiply by `w`.
pub(super) fn mul_label(w: i8) -> String {
    if w < 0 {
        format!("zm_n{}", w.unsigned_abs())
    } else {
        format!("zm_p{w}")
    }
}

/// A multiply by the constant `w` (not 0): a:hl = de·w on 24 bits, b
/// and c lost. Straight-line: x sign-extended into b, then from the
/// magnitude's top bit down a doubling each and an addition per set bit,
/// negated last for a negative weight (on 24 bits, so -32768 is exact).
pub(super) fn mul_by(b: &mut Builder, w: i8) {
    b.ld(A, D);
    b.inst(Inst::Rla);
    b.alu(AluOp::Sbc, A);
    b.ld(B, A);
    b.ld(H, D);
    b.ld(L, E);
    let m = w.unsigned_abs();
    let top = 7 - m.leading_zeros();
    for bit in (0..top).rev() {
        b.add_hl(Pair::HL);
        b.inst(Inst::Rla);
        if m >> bit & 1 == 1 {
            b.add_hl(Pair::DE);
            b.alu(AluOp::Adc, B);
        }
    }
    if w < 0 {
        b.ld(C, A);
        b.alu(AluOp::Xor, A);
        b.alu(AluOp::Sub, L);
        b.ld(L, A);
        b.ld(A, 0);
        b.alu(AluOp::Sbc, H);
        b.ld(H, A);
        b.ld(A, 0);
        b.alu(AluOp::Sbc, C);
    }
    b.ret();
}

/// `zk_scale`'s start: the 40-bit product 0, the sum sign-extended to 40 bits.
pub(super) fn scale_head(b: &mut Builder, v: &MapVars) {
    b.ld16(Reg16::IX, v.scale);
    b.ld16_mem(Reg16::HL, v.acc);
    b.st(Idx::ix(5), L);
    b.st(Idx::ix(6), H);
    b.ld16_mem(Reg16::HL, v.acc + 2);
    b.st(Idx::ix(7), L);
    b.st(Idx::ix(8), H);
    b.ld(A, H);
    b.inst(Inst::Rla);
    b.alu(AluOp::Sbc, A);
    b.st(Idx::ix(9), A);
    b.alu(AluOp::Xor, A);
    for i in 0..5 {
        b.st(Idx::ix(i), A);
    }
}

/// The product += the shifted sum, on 40 bits.
pub(super) fn scale_add(b: &mut Builder) {
    for i in 0..5 {
        b.ld(A, Idx::ix(i));
        b.alu(if i == 0 { AluOp::Add } else { AluOp::Adc }, Idx::ix(i + 5));
        b.st(Idx::ix(i), A);
    }
}

/// The shifted sum doubled, on 40 bits.
pub(super) fn scale_double(b: &mut Builder) {
    b.rot(RotOp::Sla, Idx::ix(5));
    for i in 6..10 {
        b.rot(RotOp::Rl, Idx::ix(i));
    }
}

/// The product shifted right by one, on 40 bits.
pub(super) fn scale_halve(b: &mut Builder) {
    b.rot(RotOp::Sra, Idx::ix(4));
    for i in (0..4).rev() {
        b.rot(RotOp::Rr, Idx::ix(i));
    }
}

/// `zk_scale`: a:c = (acc · c) >> b, wrapped to 16 bits, acc a 32-bit sum
/// and the product on 40 bits (exact for any sum and multiplier).
fn scale_routine(b: &mut Builder, v: &MapVars) {
    b.comment("---- zk_scale: a:c = (acc * c) >> b on 40 bits ----");
    b.label("zk_scale");
    scale_head(b, v);
    b.label("zk_sc_lp");
    b.rot(RotOp::Srl, C);
    b.jr_cc(JrCond::NC, "zk_sc_no");
    scale_add(b);
    b.label("zk_sc_no");
    scale_double(b);
    b.ld(A, C);
    b.alu(AluOp::Or, A);
    b.jr_cc(JrCond::NZ, "zk_sc_lp");
    b.ld(A, B);
    b.alu(AluOp::Or, A);
    b.jr_cc(JrCond::Z, "zk_sc_done");
    b.label("zk_sc_sh");
    scale_halve(b);
    b.djnz("zk_sc_sh");
    b.label("zk_sc_done");
    b.ld(C, Idx::ix(0));
    b.ld(A, Idx::ix(1));
    b.ret();
}

/// Per layer: its tap lists, its biases (4 bytes each), its activation's table.
fn tables(b: &mut Builder, layers: &[MapLayer]) {
    b.comment("---- tables: per output channel its taps (dw multiply, offset; dw 0 last) ----");
    for (k, l) in layers.iter().enumerate() {
        b.label(format!("m{k}_taps"));
        for taps in &l.taps {
            for t in taps {
                let mul = if l.kernel == Kernel::Max {
                    // Never called: a non-zero word.
                    "zk_max".to_string()
                } else {
                    mul_label(t.w)
                };
                b.dw([Expr::sym(mul), Expr::from(l.tap_offset(t) as u16)]);
            }
            b.dw([0u16]);
        }
        if !matches!(l.kernel, Kernel::Max) {
            b.label(format!("m{k}_bias"));
            let bytes: Vec<u8> = l
                .bias
                .iter()
                .flat_map(|&x| (x as i32).to_le_bytes())
                .collect();
            b.db_lines(&bytes, 16);
        }
        if let Some(act) = &l.activation {
            activation_table(b, act, &format!("m{k}_act"));
        }
    }
}
