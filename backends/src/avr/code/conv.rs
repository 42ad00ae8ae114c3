//! The convolution front's code, `.Lfront`: every conv and pool layer from
//! the int16 input at X, which ends at the last map (see `avr/conv.rs` for
//! the method, docs/avr.md for the figures).
//!
//! Registers: r2 = 0 and r3 = 0x80 throughout; r4–r7 the sum; r8–r11 the
//! channel's constant; r12 channels left, r13 the OR of the input's high
//! bytes, r14 and r15 columns and rows left; r16 the input byte; r17–r25
//! the weights (with more than nine taps r18–r23, r17 a weight read from
//! flash and r24:r25 its address); X the output, Y the window, Z the table.

use crate::avr::buffer::Buffer;
use crate::avr::build::{at, dec, hex, hi, hi8, lo, lo8};
use crate::avr::conv::{Pieces, Stage, StageOp};
use crate::avr::inst::Ptr::{XInc, YInc};
use crate::avr::inst::{
    Core, Dest, Reg, R0, R1, R10, R11, R12, R13, R14, R15, R16, R17, R18, R19, R2, R20, R21, R22,
    R23, R24, R25, R26, R27, R28, R29, R3, R30, R4, R5, R6, R7, R8, R9,
};
use crate::lowered::Activation;

use super::{ptr, Gen};

/// Always 0 in the front (r1 is not: the products land there).
const ZERO: Reg = R2;
/// Always 0x80: flips a byte's top bit.
const FLIP: Reg = R3;
/// The sum, little-endian.
const ACC: [Reg; 4] = [R4, R5, R6, R7];
/// The channel's constant (or an average pool's product).
const K: [Reg; 4] = [R8, R9, R10, R11];
/// Channels left.
const CHANNELS: Reg = R12;
/// The OR of the input's high bytes.
const HIGH: Reg = R13;
/// Columns and rows left.
const COLS: Reg = R14;
const ROWS: Reg = R15;
/// The input byte of a tap.
const XV: Reg = R16;
/// A weight read from flash.
const FLASH_W: Reg = R17;
/// Weight registers with at most nine taps.
const WEIGHTS: [Reg; 9] = [R17, R18, R19, R20, R21, R22, R23, R24, R25];
/// Weight registers with more taps (r17 and r24:r25 have other jobs).
const FEW_WEIGHTS: [Reg; 6] = [R18, R19, R20, R21, R22, R23];

/// The most elements of a pool window unrolled whole; larger windows loop
/// over their rows.
const ROLLED_POOL: usize = 32;

/// The widest input row whose copy is unrolled.
const COPY_UNROLLED: usize = 16;

/// Which copy of a stage's input goes into the scratch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plane {
    /// Low bytes, top bit flipped, border 0x80; the high bytes ORed into r13.
    Low,
    /// High bytes after the low plane, border 0.
    High,
    /// 16-bit elements, border −32768 (max pools) or 0 (average pools).
    Word {
        /// Whether the border is −32768.
        min: bool,
    },
}

/// Y += `d` (modulo 2^16).
fn add_y(a: &mut Buffer, d: i64) {
    match d {
        0 => {}
        1..=63 => a.adiw(R28, d as u8),
        -63..=-1 => a.sbiw(R28, (-d) as u8),
        _ => {
            let v = (-d) as u16 as u32;
            a.subi(R28, lo(v));
            a.sbci(R29, hi(v));
        }
    }
}

/// `reg` = `n` (1..=255; 0 stands for 256), through r16.
fn set(a: &mut Buffer, reg: Reg, n: usize) {
    a.ldi(R16, dec(n % 256));
    a.mov(reg, R16);
}

/// `ldd rd, Y+off`, moving Y first when `off` is out of `ldd`'s reach from
/// where Y is (`cur`, bytes past the window's start).
fn load(a: &mut Buffer, rd: Reg, off: i64, cur: &mut i64) {
    if off < *cur || off - *cur > 63 {
        add_y(a, off - *cur);
        *cur = off;
    }
    a.ldd(rd, (off - *cur) as u8);
}

/// `tmp` = 0 or 0xFF, the sign of `from`.
fn sign(a: &mut Buffer, tmp: Reg, from: Reg) {
    a.mov(tmp, from);
    a.lsl(tmp);
    a.sbc(tmp, tmp);
}

/// The index of the highest byte of an `n`-byte value that shifting it right
/// by `s` to an int16 reads.
fn top_byte(n: usize, s: u32) -> usize {
    if s as usize >= 8 * n - 1 {
        n - 1
    } else {
        (s as usize / 8 + 2).min(n - 1)
    }
}

/// The int16 `(v >> s)` of the signed `n`-byte value `v` in `b`
/// (little-endian): bits s..s+16, sign-extended, in the returned (low,
/// high) registers; by whole bytes, then by single bits right or left,
/// whichever is shorter. `tmp` (r16–r31) takes a sign byte; `b` is clobbered.
fn extract(a: &mut Buffer, b: &[Reg], s: u32, tmp: Reg) -> (Reg, Reg) {
    let n = b.len();
    if s as usize >= 8 * n - 1 {
        sign(a, tmp, b[n - 1]);
        return (tmp, tmp);
    }
    let (q, m) = ((s / 8) as usize, s % 8);
    match (n - q).min(3) {
        1 => {
            for _ in 0..m {
                a.asr(b[q]);
            }
            sign(a, tmp, b[q]);
            (b[q], tmp)
        }
        2 if 2 * m > 3 + 3 * (8 - m) => {
            sign(a, tmp, b[q + 1]);
            for _ in m..8 {
                a.lsl(b[q]);
                a.rol(b[q + 1]);
                a.rol(tmp);
            }
            (b[q + 1], tmp)
        }
        2 => {
            for _ in 0..m {
                a.asr(b[q + 1]);
                a.ror(b[q]);
            }
            (b[q], b[q + 1])
        }
        _ if m > 4 => {
            for _ in m..8 {
                a.lsl(b[q]);
                a.rol(b[q + 1]);
                a.rol(b[q + 2]);
            }
            (b[q + 1], b[q + 2])
        }
        _ => {
            for _ in 0..m {
                a.asr(b[q + 2]);
                a.ror(b[q + 1]);
                a.ror(b[q]);
            }
            (b[q], b[q + 1])
        }
    }
}

/// ReLU of the int16 in (`lo`, `hi`).
fn relu(a: &mut Buffer, lo: Reg, hi: Reg) {
    a.sbrc(hi, 7);
    a.clr(lo);
    a.sbrc(hi, 7);
    a.clr(hi);
}

impl Gen<'_> {
    fn map(&self) -> String {
        format!("{}_map", self.p)
    }

    /// X = stage j's input: the caller's vector, or the map before.
    fn stage_input(&self, a: &mut Buffer, j: usize) {
        if j == 0 {
            a.lds(R26, self.var("cin"));
            a.lds(R27, at(self.var("cin"), 1));
        } else {
            ptr(a, R26, R27, self.map());
        }
    }

    /// `.Lfront`: every conv and pool layer on the int16 input at X; X ends
    /// at the last map, r1 = 0.
    pub(super) fn front(&self, a: &mut Buffer) {
        a.comment("The conv and pool layers on the int16 input at X; X ends at the last map.");
        a.label(".Lfront");
        a.sts(self.var("cin"), R26);
        a.sts(at(self.var("cin"), 1), R27);
        a.clr(ZERO);
        a.ldi(R16, hex(0x80));
        a.mov(FLIP, R16);
        for (j, s) in self.front.iter().enumerate() {
            a.comment(format!(
                "Layer {}: {}, {}.",
                j + 1,
                s.describe(),
                s.kernel()
            ));
            match s.op {
                StageOp::Conv { .. } => self.conv_stage(a, j, s),
                _ => self.pool_stage(a, j, s),
            }
            let fused =
                matches!(s.op, StageOp::Conv { .. }) && s.activation == Some(Activation::Relu);
            if let (Some(act), false) = (&s.activation, fused) {
                self.activation_pass(a, j, s, act);
            }
        }
        ptr(a, R26, R27, self.map());
        a.clr(R1);
        a.ret();
    }

    /// Stage j's input copied into the scratch as `plane`.
    fn copy_plane(&self, a: &mut Buffer, j: usize, s: &Stage, plane: Plane) {
        let tag = format!(
            "s{j}{}",
            match plane {
                Plane::Low => "l",
                Plane::High => "h",
                Plane::Word { .. } => "w",
            }
        );
        self.stage_input(a, j);
        ptr(a, R28, R29, self.var("pad"));
        if plane == Plane::High {
            add_y(a, s.plane() as i64);
        }
        let fill: &[Reg] = match plane {
            Plane::Low => &[FLIP],
            Plane::High => &[ZERO],
            Plane::Word { min: true } => &[ZERO, FLIP],
            Plane::Word { min: false } => &[ZERO, ZERO],
        };
        let [pt, pl, pb, pr] = s.window.pads;
        let (_, wp) = s.padded();
        let (h, w) = (s.input.height, s.input.width);
        if plane == Plane::Low {
            a.clr(HIGH);
        }
        set(a, CHANNELS, s.input.channels);
        let chan = format!(".L{tag}_c");
        a.label(&chan);
        fill_run(a, pt * wp, fill, &format!("{tag}t"));
        set(a, ROWS, h);
        let row = format!(".L{tag}_r");
        a.label(&row);
        fill_run(a, pl, fill, &format!("{tag}l"));
        let copy = |a: &mut Buffer| {
            a.ld(R16, XInc);
            a.ld(R17, XInc);
            match plane {
                Plane::Low => {
                    a.or(HIGH, R17);
                    a.eor(R16, FLIP);
                    a.st(YInc, R16);
                }
                Plane::High => a.st(YInc, R17),
                Plane::Word { .. } => {
                    a.st(YInc, R16);
                    a.st(YInc, R17);
                }
            }
        };
        if w <= COPY_UNROLLED {
            for _ in 0..w {
                copy(a);
            }
        } else {
            a.ldi(R24, lo(w as u32));
            a.ldi(R25, hi(w as u32));
            let elem = format!(".L{tag}_e");
            a.label(&elem);
            copy(a);
            a.sbiw(R24, 1);
            a.brne(&elem);
        }
        fill_run(a, pr, fill, &format!("{tag}r"));
        a.dec(ROWS);
        a.brne(&row);
        fill_run(a, pb * wp, fill, &format!("{tag}b"));
        a.dec(CHANNELS);
        a.brne(&chan);
    }

    /// A conv layer: the low plane (and the high one where some input
    /// leaves 0..=255), then per output channel its weights into registers
    /// and a run per output.
    fn conv_stage(&self, a: &mut Buffer, j: usize, s: &Stage) {
        let tag = format!("s{j}");
        self.copy_plane(a, j, s, Plane::Low);
        a.clt();
        a.tst(HIGH);
        a.breq(format!(".L{tag}_low"));
        a.set();
        self.copy_plane(a, j, s, Plane::High);
        a.label(format!(".L{tag}_low"));
        ptr(a, R26, R27, self.map());
        self.load_z(a, &format!("{}_s{j}_w", self.p));
        set(a, CHANNELS, s.output.channels);
        let chan = format!(".L{tag}_ch");
        a.label(&chan);
        self.lpm(a, R28, true);
        self.lpm(a, R29, true);
        a.ldi(R16, lo8(self.var("pad")));
        a.ldi(R17, hi8(self.var("pad")));
        a.add(R28, R16);
        a.adc(R29, R17);
        for r in K {
            self.lpm(a, r, true);
        }
        for &r in weight_regs(s) {
            self.lpm(a, r, true);
        }
        let extra = s.taps() > s.weight_regs();
        if extra {
            a.movw(R24, R30);
        }
        a.brts(format!(".L{tag}_gen"));
        self.positions(a, s, &format!("{tag}f"), false);
        a.rjmp(format!(".L{tag}_next"));
        a.label(format!(".L{tag}_gen"));
        // The high plane's flipped products, 256 times over, take T·2^23 more.
        let c = (s.taps() as u32).wrapping_shl(23);
        a.ldi(R16, hex((c >> 16) as u8));
        a.sub(K[2], R16);
        a.ldi(R16, hex((c >> 24) as u8));
        a.sbc(K[3], R16);
        self.positions(a, s, &format!("{tag}g"), true);
        a.label(format!(".L{tag}_next"));
        a.dec(CHANNELS);
        a.brne(&chan);
    }

    /// Every output of one channel: on the low plane (`general` false) or
    /// the high plane then the low one.
    fn positions(&self, a: &mut Buffer, s: &Stage, tag: &str, general: bool) {
        let o = s.output;
        let [sh, sw] = s.window.stride;
        let (_, wp) = s.padded();
        // The general path is the rare one: it stays rolled, half the code.
        let u = if general {
            1
        } else {
            unroll(o.width, s.taps())
        };
        set(a, ROWS, o.height);
        let row = format!(".L{tag}_y");
        a.label(&row);
        set(a, COLS, o.width / u);
        let col = format!(".L{tag}_x");
        a.label(&col);
        let mut cur = 0;
        for i in 0..u {
            self.conv_output(a, s, general, (i * sw) as i64, &mut cur);
        }
        add_y(a, (u * sw) as i64 - cur);
        a.dec(COLS);
        a.brne(&col);
        add_y(a, (sh * wp) as i64 - (o.width * sw) as i64);
        a.dec(ROWS);
        a.brne(&row);
    }

    /// One conv output from the window `at` bytes past Y's start, stored at
    /// X+; `cur` is where Y is, past the start.
    fn conv_output(&self, a: &mut Buffer, s: &Stage, general: bool, at: i64, cur: &mut i64) {
        let offs: Vec<i64> = s.tap_offsets().iter().map(|&o| o as i64 + at).collect();
        let extra = s.taps() > s.weight_regs();
        let computed = if general {
            let high: Vec<i64> = offs.iter().map(|o| o + s.plane() as i64).collect();
            if extra {
                a.movw(R30, R24);
            }
            self.taps(a, s, &high, true, 3, cur);
            a.mov(R7, R6);
            a.mov(R6, R5);
            a.mov(R5, R4);
            a.clr(R4);
            if extra {
                a.movw(R30, R24);
            }
            self.taps(a, s, &offs, false, 4, cur);
            4
        } else {
            if extra {
                a.movw(R30, R24);
            }
            let bytes = if s.wide() { 4 } else { 3 };
            self.taps(a, s, &offs, true, bytes, cur);
            bytes
        };
        let n = s.acc.bits() as usize / 8;
        let top = top_byte(n, s.shift);
        a.add(ACC[0], K[0]);
        for i in 1..=top {
            if i == 3 && computed == 3 {
                a.mov(R7, K[3]);
                a.adc(R7, ZERO);
            } else {
                a.adc(ACC[i], K[i]);
            }
        }
        let (lo, hi) = extract(a, &ACC[..n], s.shift, R16);
        if s.activation == Some(Activation::Relu) {
            relu(a, lo, hi);
        }
        a.st(XInc, lo);
        a.st(XInc, hi);
    }

    /// The taps at `offs` times the channel's weights, their products
    /// flipped to unsigned and summed in `bytes` bytes (the first tap sets
    /// the sum when `init`).
    fn taps(
        &self,
        a: &mut Buffer,
        s: &Stage,
        offs: &[i64],
        init: bool,
        bytes: usize,
        cur: &mut i64,
    ) {
        let regs = weight_regs(s);
        for (t, &off) in offs.iter().enumerate() {
            load(a, XV, off, cur);
            let w = match regs.get(t) {
                Some(&r) => r,
                None => {
                    self.lpm(a, FLASH_W, true);
                    FLASH_W
                }
            };
            a.muls(w, XV);
            a.eor(R1, FLIP);
            if t == 0 && init {
                a.movw(R4, R0);
                a.clr(R6);
                if bytes == 4 {
                    a.clr(R7);
                }
            } else {
                a.add(R4, R0);
                a.adc(R5, R1);
                a.adc(R6, ZERO);
                if bytes == 4 {
                    a.adc(R7, ZERO);
                }
            }
        }
    }

    /// A max or average pool over the map (or its padded copy).
    fn pool_stage(&self, a: &mut Buffer, j: usize, s: &Stage) {
        let tag = format!("s{j}");
        let (hp, wp) = if s.copies() {
            let min = s.op == StageOp::MaxPool;
            self.copy_plane(a, j, s, Plane::Word { min });
            ptr(a, R28, R29, self.var("pad"));
            s.padded()
        } else {
            self.stage_input(a, j);
            a.movw(R28, R26);
            (s.input.height, s.input.width)
        };
        ptr(a, R26, R27, self.map());
        let o = s.output;
        let [sh, sw] = s.window.stride;
        set(a, CHANNELS, o.channels);
        let chan = format!(".L{tag}_c");
        a.label(&chan);
        set(a, ROWS, o.height);
        let row = format!(".L{tag}_y");
        a.label(&row);
        let u = unroll(o.width, s.taps());
        set(a, COLS, o.width / u);
        let col = format!(".L{tag}_x");
        a.label(&col);
        let mut cur = 0;
        for i in 0..u {
            self.pool_output(a, s, (2 * i * sw) as i64, &mut cur, &format!("{tag}_{i}"));
        }
        add_y(a, (2 * u * sw) as i64 - cur);
        a.dec(COLS);
        a.brne(&col);
        add_y(a, 2 * ((sh * wp) as i64 - (o.width * sw) as i64));
        a.dec(ROWS);
        a.brne(&row);
        add_y(a, 2 * ((hp * wp) as i64 - (o.height * sh * wp) as i64));
        a.dec(CHANNELS);
        a.brne(&chan);
    }

    /// One pool output from the window `at` bytes past Y's start, stored at
    /// X+; `cur` is where Y is, past the start. A window of more than
    /// [`ROLLED_POOL`] elements loops over its rows (labels `.L{tag}_…`).
    fn pool_output(&self, a: &mut Buffer, s: &Stage, at: i64, cur: &mut i64, tag: &str) {
        let max = s.op == StageOp::MaxPool;
        let tap = |a: &mut Buffer, first: bool, off: i64, cur: &mut i64| {
            if max {
                let (rl, rh) = if first { (R18, R19) } else { (R16, R17) };
                load(a, rl, off, cur);
                load(a, rh, off + 1, cur);
                if !first {
                    a.cp(R18, R16);
                    a.cpc(R19, R17);
                    a.brge(Dest::Next(1));
                    a.movw(R18, R16);
                    a.label("1");
                }
            } else {
                load(a, R16, off, cur);
                load(a, R17, off + 1, cur);
                a.eor(R17, FLIP);
                if first {
                    a.movw(R4, R16);
                    a.clr(R6);
                } else {
                    a.add(R4, R16);
                    a.adc(R5, R17);
                    a.adc(R6, ZERO);
                }
            }
        };
        let [kh, kw] = s.window.kernel;
        if s.window_len() > ROLLED_POOL && kh > 1 {
            let wp = if s.copies() {
                s.padded().1
            } else {
                s.input.width
            } as i64;
            add_y(a, at - *cur);
            *cur = at;
            a.movw(R24, R28);
            let mut c = 0;
            for kx in 0..kw {
                tap(a, kx == 0, 2 * kx as i64, &mut c);
            }
            add_y(a, 2 * wp - c);
            a.ldi(R20, dec(kh - 1));
            let rows = format!(".L{tag}_kr");
            a.label(&rows);
            let mut c = 0;
            for kx in 0..kw {
                tap(a, false, 2 * kx as i64, &mut c);
            }
            add_y(a, 2 * wp - c);
            a.dec(R20);
            a.brne(&rows);
            a.movw(R28, R24);
        } else {
            for (t, &o) in s.tap_offsets().iter().enumerate() {
                tap(a, t == 0, 2 * o as i64 + at, cur);
            }
        }
        match s.op {
            StageOp::AvgPool { mul, shift } => {
                // The flips added 32768 per element.
                let c = (s.window_len() as u32) << 15;
                a.ldi(R16, hex((c >> 8) as u8));
                a.sub(R5, R16);
                a.ldi(R16, hex((c >> 16) as u8));
                a.sbc(R6, R16);
                // The signed 24-bit sum times mul: 32 bits in r8–r11.
                a.ldi(R16, dec(mul as usize));
                a.mul(R4, R16);
                a.movw(R8, R0);
                a.clr(R10);
                a.clr(R11);
                a.mul(R5, R16);
                a.add(R9, R0);
                a.adc(R10, R1);
                a.mov(R17, R6);
                a.mulsu(R17, R16);
                a.add(R10, R0);
                a.adc(R11, R1);
                let (lo, hi) = extract(a, &K, shift, R16);
                a.st(XInc, lo);
                a.st(XInc, hi);
            }
            _ => {
                a.st(XInc, R18);
                a.st(XInc, R19);
            }
        }
    }

    /// Stage j's activation over its output map, in place (what the layer's
    /// run does not fuse): r2:r3 = 0 while it runs, as the dense epilogues have it.
    fn activation_pass(&self, a: &mut Buffer, j: usize, s: &Stage, act: &Activation) {
        let tag = format!("s{j}a");
        a.clr(R1);
        a.clr(FLIP);
        ptr(a, R26, R27, self.map());
        a.movw(R28, R26);
        let n = s.output.len();
        a.ldi(R24, lo(n as u32));
        a.ldi(R25, hi(n as u32));
        let label = format!(".L{tag}");
        a.label(&label);
        a.ld(R18, XInc);
        a.ld(R19, XInc);
        self.activate_sym(a, act, &format!("{}_s{j}_act", self.p), &tag, false);
        a.st(YInc, R18);
        a.st(YInc, R19);
        a.sbiw(R24, 1);
        a.brne(&label);
        a.ldi(R16, hex(0x80));
        a.mov(FLIP, R16);
    }

    /// The cycles of stage j's pieces, from the code they are.
    pub fn front_pieces(&self, j: usize) -> Pieces {
        let s = &self.front[j];
        let cycles = |f: &dyn Fn(&mut Buffer)| {
            let mut b = Buffer::default();
            f(&mut b);
            b.straight_cycles(Core::Mega328)
        };
        // A turn of the column loop past its outputs: Y's step, the count.
        let turn = 2 + 2 + 1;
        let u = unroll(s.output.width, s.taps());
        let act = match (&s.activation, &s.op) {
            (Some(Activation::Relu), StageOp::Conv { .. }) | (None, _) => 0,
            (Some(act), _) => 10 + cycles(&|b| self.activate_sym(b, act, "t", "t", false)),
        };
        // A copied element: its loads, the flip and the OR, its store; a
        // rolled row adds the count.
        let copy = if s.input.width <= COPY_UNROLLED {
            8
        } else {
            12
        };
        match s.op {
            StageOp::Conv { .. } => Pieces {
                fast: turn / u + cycles(&|b| self.conv_output(b, s, false, 0, &mut 0)),
                general: turn + cycles(&|b| self.conv_output(b, s, true, 0, &mut 0)),
                channel: 16 + 3 * (6 + s.weight_regs()) + 3,
                row: 7,
                copy,
                activation: act,
            },
            _ => Pieces {
                fast: turn / u
                    + cycles(&|b| self.pool_output(b, s, 0, &mut 0, "t"))
                    + rolled_rows(s),
                general: 0,
                channel: 8,
                row: 7,
                copy: copy + 2,
                activation: act,
            },
        }
    }
}

/// Outputs a turn of the column loop: up to four that share Y (their
/// taps a stride apart) where the row divides and the runs are short.
fn unroll(width: usize, taps: usize) -> usize {
    match (width % 4, width % 2) {
        (0, _) if taps <= 9 => 4,
        (_, 0) if taps <= 18 => 2,
        _ => 1,
    }
}

/// Cycles of a rolled pool window's rows past the two its straight code
/// shows: about 8 a tap and 7 a row.
fn rolled_rows(s: &Stage) -> usize {
    let [kh, kw] = s.window.kernel;
    if s.window_len() > ROLLED_POOL && kh > 2 {
        (kh - 2) * (8 * kw + 7)
    } else {
        0
    }
}

/// The weight registers of a conv layer's taps.
fn weight_regs(s: &Stage) -> &'static [Reg] {
    if s.taps() <= WEIGHTS.len() {
        &WEIGHTS[..s.taps()]
    } else {
        &FEW_WEIGHTS
    }
}

/// `n` elements of `fill` (one register a byte) at Y+.
fn fill_run(a: &mut Buffer, n: usize, fill: &[Reg], tag: &str) {
    if n * fill.len() <= 8 {
        for _ in 0..n {
            for &r in fill {
                a.st(YInc, r);
            }
        }
        return;
    }
    let mut left = n;
    let mut k = 0;
    while left > 0 {
        let now = left.min(255);
        let label = format!(".L{tag}{k}");
        a.ldi(R16, dec(now));
        a.label(&label);
        for &r in fill {
            a.st(YInc, r);
        }
        a.dec(R16);
        a.brne(&label);
        left -= now;
        k += 1;
    }
}
