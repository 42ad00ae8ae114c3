//! Predicted T-states of a feature-map layer, from the very instructions
//! `mapcode.rs` emits: each piece of the loops is emitted into a scratch
//! list and its T-states summed (the Zilog manual's, as the emulator counts
//! them), then multiplied by how often the loops run it; a multiply is
//! its weight's own straight-line routine. The data-dependent branches of
//! max pooling and of the activations are costed on their fall-through path.

use super::asm::Item;
use super::build::Builder;
use super::isa::{AluOp, Idx, Inst, Reg8};
use super::mapcode::{
    acc32_shift_parts, call_mul, channel_head, channel_tail, list_end, mac_add, mac_head, max_step,
    mul_by, next_tap, pixel, row_head, row_tail, scale_add, scale_double, scale_halve, scale_head,
    tap_done, MapVars,
};
use super::mapplan::{Kernel, MapLayer};
use zlmc_ir::Elem;

/// T-states of what `f` emits, every branch on its fall-through path.
fn t(f: impl FnOnce(&mut Builder)) -> u64 {
    let mut b = Builder::new();
    f(&mut b);
    b.finish()
        .iter()
        .map(|i| match i {
            Item::Inst(x) => u64::from(x.tstates().not_taken),
            _ => 0,
        })
        .sum()
}

/// T-states of `inst` taken (`true`) or not.
fn branch(inst: Inst, taken: bool) -> u64 {
    let ts = inst.tstates();
    u64::from(if taken { ts.taken } else { ts.not_taken })
}

/// The multiply by `w`, its call through `zk_jp` included.
fn mul_tstates(w: i8) -> u64 {
    t(call_mul) + t(|b| b.jp_ind(super::isa::HlIx::HL)) + t(|b| mul_by(b, w))
}

/// `zk_scale` for `mul` and `shift`, its call included.
fn scale_tstates(mul: u8, shift: u32) -> u64 {
    let jr = |taken| branch(Inst::JrCc(super::isa::JrCond::Z, 0.into()), taken);
    let mut n = t(|b| b.call("zk_scale")) + t(|b| scale_head(b, &MapVars::at(0)));
    let top = 7 - mul.leading_zeros();
    for bit in 0..=top {
        n += t(|b| b.rot(super::isa::RotOp::Srl, Reg8::C));
        n += if mul >> bit & 1 == 1 {
            jr(false) + t(scale_add)
        } else {
            jr(true)
        };
        n += t(scale_double)
            + t(|b| {
                b.ld(Reg8::A, Reg8::C);
                b.alu(AluOp::Or, Reg8::A);
            });
        n += jr(bit != top);
    }
    n += t(|b| {
        b.ld(Reg8::A, Reg8::B);
        b.alu(AluOp::Or, Reg8::A);
    }) + jr(shift == 0);
    n += u64::from(shift) * (t(scale_halve) + branch(Inst::Djnz(0.into()), true))
        - 5 * u64::from(shift > 0);
    n + t(|b| {
        b.ld(Reg8::C, Idx::ix(0));
        b.ld(Reg8::A, Idx::ix(1));
        b.ret();
    })
}

/// The T-states layer `l` is predicted to take, its padded copy included if `padded`.
pub fn layer_tstates(l: &MapLayer, padded: bool) -> u64 {
    let v = MapVars::at(0xC000);
    let wide = matches!(
        l.kernel,
        Kernel::Mac { acc: Elem::I32 } | Kernel::Avg { .. }
    );
    let positions = (l.output.h * l.output.w) as u64;
    // The walk of the list to its end, and the kernel's set-up.
    let end = t(|b| {
        b.ld(Reg8::A, Idx::iy(0));
        b.alu(AluOp::Or, Reg8::A);
    }) + branch(Inst::JrCc(super::isa::JrCond::Z, 0.into()), true)
        + t(|b| list_end(b, &v))
        + t(|b| b.ret());
    let head = t(|b| next_tap(b, &v, "x")) + t(|b| tap_done(b, "x"));
    let (fixed, taps): (u64, u64) = match l.kernel {
        Kernel::Max => (
            t(|b| b.ld16(super::isa::Reg16::IY, 0))
                + t(|b| b.ld16(super::isa::Reg16::BC, 0))
                + end
                + 20,
            l.taps.iter().flatten().map(|_| head + t(max_step)).sum(),
        ),
        _ => (
            t(|b| mac_head(b, &v, wide)) + end,
            l.taps
                .iter()
                .flatten()
                .map(|tap| head + mul_tstates(tap.w) + t(|b| mac_add(b, &v, wide)))
                .sum(),
        ),
    };
    let mut px = t(|b| pixel(b, 0, l, &v)) + fixed;
    if let Kernel::Avg { mul, shift } = l.kernel {
        px += scale_tstates(mul, shift) - t(|b| b.call("zk_scale"));
    }
    if let Kernel::Mac { acc: Elem::I32 } = l.kernel {
        // The shift loop runs `rest` rounds; `pixel` counted one.
        let rest = u64::from(acc32_shift_parts(l.shift).1);
        if rest > 1 {
            px += (rest - 1) * (4 * 8 + 13);
        }
    }
    let rows = t(|b| row_head(b, 0, l, &v)) + t(|b| row_tail(b, 0, l, &v));
    let chans = t(|b| channel_head(b, 0, 0, l, &v)) + t(|b| channel_tail(b, 0, l, &v));
    let o = l.output.c as u64;
    let mut n =
        100 + o * (chans + l.output.h as u64 * rows) + o * positions * px + positions * taps;
    if padded {
        let d = l.read_dims();
        let (c, h, w) = (l.input.c as u64, l.input.h as u64, l.input.w as u64);
        n += 21 * 2 * d.len() as u64 + c * h * (21 * 2 * w + 120) + c * 120;
    }
    n
}
