//! A layer's activation other than ReLU (clamp, leaky ReLU, lookup table)
//! on a shifted output in a:c, high byte in a, bit-exact with
//! `Activation::apply`. The code runs inside an epilogue's loop, where SP is
//! the bias pointer (no push, pop or call), b counts rows and hl walks the
//! accumulators: it uses a, c, d, e and the flags only, except leaky ReLU's
//! negative branch, which parks hl in a word of memory while it multiplies.
//!
//! ReLU keeps its own faster code in `model.rs`: that code relies on outputs
//! never being negative, which these activations do not promise.

use super::build::Builder;
use super::expr::Expr;
use super::isa::Reg8::{A, C, D, E, H, L};
use super::isa::{AluOp, BcDe, Cond, Inst, JrCond, Pair, Reg16, RotOp};
use crate::lowered::Activation;

/// Where an activation's code finds what it needs: `tag` prefixes its
/// labels, `table` names its lookup table, `save` is a word of memory that
/// is free while the epilogue runs.
pub struct ActivationSite<'a> {
    /// The epilogue's label prefix (unique per layer and page).
    pub tag: &'a str,
    /// The label of the layer's lookup table (see [`activation_table`]).
    pub table: &'a str,
    /// A scratch word.
    pub save: u16,
}

/// The code of `act` on a:c (a = high byte), leaving its value in a:c.
/// ReLU is the caller's (see the module comment).
pub fn activate(b: &mut Builder, act: &Activation, at: &ActivationSite) {
    match act {
        Activation::Relu => unreachable!("ReLU has its own epilogue code"),
        Activation::Clamp { lo, hi } => clamp(b, *lo, *hi, at.tag),
        Activation::LeakyRelu { mul, shift } => leaky_relu(b, *mul, *shift, at),
        Activation::Lut { lo, table } => lookup(b, *lo, table, at),
    }
}

/// Whether a lookup table's entries all fit a byte (then it is kept as bytes).
fn byte_table(table: &[i16]) -> bool {
    table.iter().all(|&v| i8::try_from(v).is_ok())
}

/// The data `act` needs in the program, under `label`: a lookup table's
/// entries, as bytes when every one fits int8, as words otherwise.
pub fn activation_table(b: &mut Builder, act: &Activation, label: &str) {
    let Activation::Lut { table, .. } = act else {
        return;
    };
    b.label(label);
    if byte_table(table) {
        b.db_lines(&table.iter().map(|&v| v as u8).collect::<Vec<u8>>(), 16);
    } else {
        for chunk in table.chunks(12) {
            b.dw(chunk.iter().map(|&v| v as u16));
        }
    }
}

/// Low and high byte of a 16-bit value.
fn bytes(v: i32) -> (i32, i32) {
    (v & 0xFF, (v >> 8) & 0xFF)
}

/// a:c = the constant `v`.
fn load(b: &mut Builder, v: i16) {
    let (lo, hi) = bytes(i32::from(v));
    b.ld(C, lo);
    b.ld(A, hi);
}

/// d = x's high byte with its sign bit flipped (x in a:c): then unsigned
/// order on d:c is signed order on x, and a 16-bit difference's borrow is
/// the signed comparison.
fn flip_sign(b: &mut Builder) {
    b.alu(AluOp::Xor, Expr::Hex(0x80));
    b.ld(D, A);
}

/// a = x's high byte again after [`flip_sign`].
fn unflip_sign(b: &mut Builder) {
    b.ld(A, D);
    b.alu(AluOp::Xor, Expr::Hex(0x80));
}

/// From x in a:c, with `width + 1` values from `lo` on in range
/// (`width` <= 255): jumps to `below` if x < lo, to `above` if x > lo + width,
/// and falls through otherwise with d:c = x (sign flipped, see
/// [`flip_sign`]) and e = x - lo. Without a borrow, the difference is the
/// exact (non-negative) x - lo: in range when its high byte is 0.
fn window(b: &mut Builder, lo: i16, width: u32, below: &str, above: &str) {
    let (lo_l, lo_h) = bytes(i32::from(lo));
    flip_sign(b);
    b.ld(A, C);
    b.alu(AluOp::Sub, lo_l);
    b.ld(E, A);
    b.ld(A, D);
    b.alu(AluOp::Sbc, Expr::Hex(lo_h ^ 0x80));
    b.jr_cc(JrCond::C, below);
    b.jr_cc(JrCond::NZ, above);
    if width < 255 {
        b.ld(A, E);
        b.alu(AluOp::Cp, width as i32 + 1);
        b.jr_cc(JrCond::NC, above);
    }
}

/// Jumps to `to` if x (d:c, sign flipped) is below `k` (signed) when
/// `below`, else if it is not below `k`; `a` lost.
fn jump_if(b: &mut Builder, below: bool, k: i32, to: &str) {
    let cond = if below { JrCond::C } else { JrCond::NC };
    if k == 0 {
        // Below 0: the flipped sign bit is clear.
        b.ld(A, D);
        b.inst(Inst::Rla);
        b.jr_cc(if below { JrCond::NC } else { JrCond::C }, to);
        return;
    }
    let (k_l, k_h) = bytes(k);
    b.ld(A, C);
    b.alu(AluOp::Sub, k_l);
    b.ld(A, D);
    b.alu(AluOp::Sbc, Expr::Hex(k_h ^ 0x80));
    b.jr_cc(cond, to);
}

/// y = min(max(x, lo), hi): values in range pass with no change; the
/// others become the bound they passed, loaded as a constant.
fn clamp(b: &mut Builder, lo: i16, hi: i16, tag: &str) {
    let (below, above, done) = (
        format!("{tag}_aclo"),
        format!("{tag}_achi"),
        format!("{tag}_acdone"),
    );
    if (lo, hi) == (i16::MIN, i16::MAX) {
        return;
    }
    let width = (i32::from(hi) - i32::from(lo)) as u32;
    if width <= 255 {
        window(b, lo, width, &below, &above);
    } else {
        flip_sign(b);
        if lo != i16::MIN {
            jump_if(b, true, lo.into(), &below);
        }
        if hi != i16::MAX {
            // x > hi is x >= hi + 1: not below it.
            jump_if(b, false, i32::from(hi) + 1, &above);
        }
    }
    unflip_sign(b);
    b.jr(done.as_str());
    b.label(&below);
    load(b, lo);
    b.jr(done.as_str());
    b.label(&above);
    load(b, hi);
    b.label(&done);
}

/// min(x, hi) for a non-negative x in a:c (the rest of a clamp from 0,
/// after an epilogue that skipped the negative rows); labels from `tag`.
pub fn cap(b: &mut Builder, hi: i16, tag: &str) {
    if hi == i16::MAX {
        return;
    }
    let done = format!("{tag}_acdone");
    // Both non-negative: x < hi + 1 is an unsigned comparison.
    let (k_l, k_h) = bytes(i32::from(hi) + 1);
    b.ld(D, A);
    b.ld(A, C);
    b.alu(AluOp::Sub, k_l);
    b.ld(A, D);
    b.alu(AluOp::Sbc, k_h);
    b.ld(A, D);
    b.jr_cc(JrCond::C, done.as_str());
    load(b, hi);
    b.label(&done);
}

/// y = x for x >= 0, (x * mul) >> shift (toward −∞) for x < 0. No
/// multiply: the negative branch runs Horner's rule from mul's lowest bit,
/// r = (r + bit·x) >> 1 once per bit, each halving rounding toward −∞, which
/// nests to exactly floor(x·mul / 2^shift). r and x are both negative after
/// the first bit, so the 16-bit add's carry is the 17-bit sum's sign and
/// `rr` brings it back in; a 0 bit is `sra`. mul's trailing zeros come off
/// the shift first (a power of two is then a shift of a:c). hl holds r
/// (parked in `save`), de holds x.
fn leaky_relu(b: &mut Builder, mul: u8, shift: u8, at: &ActivationSite) {
    let done = format!("{}_acdone", at.tag);
    let zeros = mul.trailing_zeros() as u8;
    let (mul, steps) = (u32::from(mul >> zeros), shift - zeros);
    b.alu(AluOp::Or, A);
    b.jp_cc(Cond::P, done.as_str());
    if mul == 1 {
        // A power of two: a shift of a:c alone.
        for _ in 0..steps {
            b.rot(RotOp::Sra, A);
            b.rot(RotOp::Rr, C);
        }
        b.label(&done);
        return;
    }
    b.st16_mem(at.save, Reg16::HL);
    b.ld(H, A);
    b.ld(L, C);
    b.ld(D, A);
    b.ld(E, C);
    // mul is odd now: the first step is r = x >> 1.
    b.rot(RotOp::Sra, H);
    b.rot(RotOp::Rr, L);
    for bit in 1..steps {
        if mul >> bit & 1 == 1 {
            b.add_hl(Pair::DE);
            b.rot(RotOp::Rr, H);
        } else {
            b.rot(RotOp::Sra, H);
        }
        b.rot(RotOp::Rr, L);
    }
    b.ld(A, H);
    b.ld(C, L);
    b.ld16_mem(Reg16::HL, at.save);
    b.label(&done);
}

/// y = table[clamp(x - lo, 0, len - 1)]: the ends are constants, an index in
/// range reads the table (`at.table`), bytes sign-extended or words.
fn lookup(b: &mut Builder, lo: i16, table: &[i16], at: &ActivationSite) {
    let tag = at.tag;
    let (below, above, done) = (
        format!("{tag}_aclo"),
        format!("{tag}_achi"),
        format!("{tag}_acdone"),
    );
    window(b, lo, table.len() as u32 - 1, &below, &above);
    let base = Expr::sym(at.table);
    if byte_table(table) {
        // de = table + e, without a 16-bit add: the carry into d.
        b.ld(A, E);
        b.alu(AluOp::Add, base.clone().low());
        b.ld(E, A);
        b.alu(AluOp::Adc, base.high());
        b.alu(AluOp::Sub, E);
        b.ld(D, A);
        b.ld_a_ptr(BcDe::DE);
        b.ld(C, A);
        b.inst(Inst::Rla);
        b.alu(AluOp::Sbc, A);
    } else {
        // de = 2e, then de += table.
        b.ld(A, E);
        b.alu(AluOp::Add, A);
        b.ld(E, A);
        b.ld(A, 0);
        b.inst(Inst::Rla);
        b.ld(D, A);
        b.ld(A, E);
        b.alu(AluOp::Add, base.clone().low());
        b.ld(E, A);
        b.ld(A, D);
        b.alu(AluOp::Adc, base.high());
        b.ld(D, A);
        b.ld_a_ptr(BcDe::DE);
        b.ld(C, A);
        b.inc16(Reg16::DE);
        b.ld_a_ptr(BcDe::DE);
    }
    b.jr(done.as_str());
    b.label(&below);
    load(b, table[0]);
    b.jr(done.as_str());
    b.label(&above);
    load(b, table[table.len() - 1]);
    b.label(&done);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{run_cpm, CpmRun, Exit};
    use crate::z80::asm::assemble;
    use crate::z80::isa::Reg8::B;

    /// A CP/M program that runs `act`'s code on every int16 x (a:c = x, hl
    /// and b holding markers it must keep) and prints each y as four
    /// characters '0'+nibble, high nibble first, then `H` if hl or b changed.
    fn every_x(act: &Activation) -> Vec<u8> {
        let (cnt, res, save) = (0x8000u16, 0x8002u16, 0x8004u16);
        let mut b = Builder::new();
        b.ld16(Reg16::HL, 0);
        b.st16_mem(cnt, Reg16::HL);
        b.label("lp");
        b.ld16_mem(Reg16::HL, cnt);
        b.ld(A, H);
        b.ld(C, L);
        b.ld16(Reg16::HL, 0x1234);
        b.ld(B, 0x56);
        let site = ActivationSite {
            tag: "t",
            table: "tbl",
            save,
        };
        activate(&mut b, act, &site);
        b.ld_mem_a(res);
        b.ld(A, C);
        b.ld_mem_a(res + 1);
        b.ld(A, B);
        b.alu(AluOp::Cp, 0x56);
        b.jr_cc(JrCond::NZ, "bad");
        b.ld(A, H);
        b.alu(AluOp::Cp, 0x12);
        b.jr_cc(JrCond::NZ, "bad");
        b.ld(A, L);
        b.alu(AluOp::Cp, 0x34);
        b.jr_cc(JrCond::Z, "good");
        b.label("bad");
        b.ld(E, i32::from(b'H'));
        b.ld(C, 2);
        b.call(5);
        b.label("good");
        b.ld_a_mem(res);
        b.call("hex2");
        b.ld_a_mem(res + 1);
        b.call("hex2");
        b.ld16_mem(Reg16::HL, cnt);
        b.inc16(Reg16::HL);
        b.st16_mem(cnt, Reg16::HL);
        b.ld(A, H);
        b.alu(AluOp::Or, L);
        b.jp_cc(Cond::NZ, "lp");
        b.jp(0);
        b.label("hex2");
        b.push(crate::z80::isa::StackReg::AF);
        for _ in 0..4 {
            b.inst(Inst::Rrca);
        }
        b.call("nib");
        b.pop(crate::z80::isa::StackReg::AF);
        b.label("nib");
        b.alu(AluOp::And, 15);
        b.alu(AluOp::Add, i32::from(b'0'));
        b.ld(E, A);
        b.ld(C, 2);
        b.call(5);
        b.ret();
        activation_table(&mut b, act, "tbl");
        let mut items = vec![crate::z80::asm::Item::Org(0x100.into())];
        items.extend(b.finish());
        let prog = assemble(&items, 0x100).expect("assembles");
        let report = run_cpm(&CpmRun {
            program: &prog.bytes,
            command_tail: b"",
            console_input: b"",
            step_entry: None,
            max_tstates: u64::MAX,
        })
        .expect("runs");
        assert_eq!(report.exit, Exit::WarmBoot);
        report.output
    }

    /// What [`every_x`] must print for `act`.
    fn expected(act: &Activation) -> Vec<u8> {
        let mut out = Vec::new();
        for x in 0..=u16::MAX {
            let y = act.apply(x as i16) as u16;
            out.extend((0..4).rev().map(|i| b'0' + (y >> (4 * i) & 15) as u8));
        }
        out
    }

    fn check(act: Activation) {
        let got = every_x(&act);
        let want = expected(&act);
        if got != want {
            let at = got.iter().zip(&want).position(|(g, w)| g != w).unwrap_or(0);
            panic!(
                "{act:?}: x = {} gives {:?}, not {:?}",
                (at / 4) as u16 as i16,
                String::from_utf8_lossy(&got[at / 4 * 4..(at / 4 * 4 + 8).min(got.len())]),
                String::from_utf8_lossy(&want[at / 4 * 4..at / 4 * 4 + 4]),
            );
        }
    }

    /// The code size of `act` and the T-states it takes on each of `xs`,
    /// measured on the emulator (its code as a routine, the `ret` left out).
    fn cost(act: &Activation, xs: &[i16]) -> (usize, Vec<u64>) {
        let mut b = Builder::new();
        for &x in xs {
            let (lo, hi) = bytes(i32::from(x));
            b.ld(A, hi);
            b.ld(C, lo);
            b.call("act");
        }
        b.jp(0);
        b.label("act");
        let site = ActivationSite {
            tag: "t",
            table: "tbl",
            save: 0x8000,
        };
        activate(&mut b, act, &site);
        b.label("act_end");
        b.ret();
        activation_table(&mut b, act, "tbl");
        let mut items = vec![crate::z80::asm::Item::Org(0x100.into())];
        items.extend(b.finish());
        let prog = assemble(&items, 0x100).expect("assembles");
        let at = |s: &str| prog.symbols[s];
        let report = run_cpm(&CpmRun {
            program: &prog.bytes,
            command_tail: b"",
            console_input: b"",
            step_entry: Some(at("act") as u16),
            max_tstates: 1_000_000,
        })
        .expect("runs");
        let ret = 10;
        let size = (at("act_end") - at("act")) as usize;
        (size, report.step_tstates.iter().map(|t| t - ret).collect())
    }

    /// Code size and T-states of each way through each activation
    /// (`cargo test -p zlmc-backends --lib activation_costs -- --ignored --nocapture`).
    #[test]
    #[ignore = "measurement: prints a table"]
    fn activation_costs() {
        let lut = |len: usize, wide: bool| Activation::Lut {
            lo: -128,
            table: (0..len as i16)
                .map(|i| if wide { i * 100 } else { i / 2 })
                .collect(),
        };
        let cases: Vec<(String, Activation, Vec<i16>)> = vec![
            (
                "clamp [0, 6] (ReLU6)".into(),
                Activation::Clamp { lo: 0, hi: 6 },
                vec![-5, 3, 100],
            ),
            (
                "clamp [-128, 127]".into(),
                Activation::Clamp { lo: -128, hi: 127 },
                vec![-200, 3, 300],
            ),
            (
                "clamp [0, 1000]".into(),
                Activation::Clamp { lo: 0, hi: 1000 },
                vec![-5, 300, 2000],
            ),
            (
                "clamp [-300, 1000]".into(),
                Activation::Clamp { lo: -300, hi: 1000 },
                vec![-500, 300, 2000],
            ),
            (
                "leaky_relu mul 1, shift 3".into(),
                Activation::LeakyRelu { mul: 1, shift: 3 },
                vec![0, 5, -5],
            ),
            (
                "leaky_relu mul 3, shift 4".into(),
                Activation::LeakyRelu { mul: 3, shift: 4 },
                vec![0, 5, -5],
            ),
            (
                "leaky_relu mul 13, shift 7".into(),
                Activation::LeakyRelu { mul: 13, shift: 7 },
                vec![0, 5, -5],
            ),
            (
                "leaky_relu mul 255, shift 8".into(),
                Activation::LeakyRelu { mul: 255, shift: 8 },
                vec![0, 5, -5],
            ),
            (
                "leaky_relu mul 255, shift 15".into(),
                Activation::LeakyRelu {
                    mul: 255,
                    shift: 15,
                },
                vec![0, 5, -5],
            ),
            (
                "lut 256 bytes, lo -128".into(),
                lut(256, false),
                vec![-200, 3, 300],
            ),
            (
                "lut 100 bytes, lo -128".into(),
                lut(100, false),
                vec![-200, -100, 300],
            ),
            (
                "lut 256 words, lo -128".into(),
                lut(256, true),
                vec![-200, 3, 300],
            ),
        ];
        println!("| activation | code bytes | T-states for x = … |");
        println!("|---|---|---|");
        for (name, act, xs) in cases {
            let (size, ts) = cost(&act, &xs);
            let ways: Vec<String> = xs
                .iter()
                .zip(&ts)
                .map(|(x, t)| format!("{t} ({x})"))
                .collect();
            println!("| {name} | {size} | {} |", ways.join(" / "));
        }
    }

    #[test]
    fn clamps_agree_with_the_reference_on_every_input() {
        for (lo, hi) in [
            (0, 6),
            (-5, -5),
            (-128, 127),
            (-100, 155),
            (-100, 156),
            (0, 1000),
            (-300, 1000),
            (i16::MIN, 100),
            (-100, i16::MAX),
            (i16::MIN, i16::MAX),
            (i16::MAX, i16::MAX),
            (i16::MIN, i16::MIN),
            (i16::MIN, i16::MIN + 255),
            (i16::MAX - 255, i16::MAX),
        ] {
            check(Activation::Clamp { lo, hi });
        }
    }

    #[test]
    fn leaky_relus_agree_with_the_reference_on_every_input() {
        for (mul, shift) in [
            (1, 1),
            (1, 3),
            (3, 2),
            (13, 7),
            (128, 8),
            (255, 8),
            (200, 9),
            (1, 15),
            (255, 15),
            (170, 12),
        ] {
            check(Activation::LeakyRelu { mul, shift });
        }
    }

    #[test]
    fn lookup_tables_agree_with_the_reference_on_every_input() {
        let table = |len: usize, wide: bool| -> Vec<i16> {
            (0..len)
                .map(|i| {
                    let v = (i as i32 * 7919 + 13) % 65536 - 32768;
                    if wide {
                        v as i16
                    } else {
                        (v % 128) as i16
                    }
                })
                .collect()
        };
        for (lo, len, wide) in [
            (0, 2, false),
            (-128, 256, false),
            (-128, 256, true),
            (-300, 100, true),
            (i16::MIN, 256, false),
            (i16::MIN, 3, true),
            (i16::MAX, 2, true),
            (i16::MAX - 100, 256, false),
            (1000, 255, true),
        ] {
            check(Activation::Lut {
                lo,
                table: table(len, wide),
            });
        }
    }
}
