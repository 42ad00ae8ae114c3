//! Layer walks and epilogues: each layer's accumulators from its biases, the
//! walks over its coded columns (gap-nibble or dense) and the epilogues.

use crate::avr::activation::needs_zero;
use crate::avr::buffer::Buffer;
use crate::avr::build::{hex, hi, lo};
use crate::avr::inst::Ptr::{XInc, YInc, X};
use crate::avr::inst::{
    R0, R1, R10, R11, R14, R16, R17, R18, R19, R2, R20, R21, R24, R26, R27, R28, R29, R3, R30, R31,
    R4, R5, R6, R7, R8, R9,
};
use crate::lowered::InputPart;
use zlmc_ir::Elem;

use super::{count, loop_end, ptr, Gen};

impl Gen<'_> {
    /// Layer k's accumulators = its biases.
    pub(super) fn init_layer(&self, a: &mut Buffer, k: usize, tag: &str) {
        let l = &self.layers[k];
        let n = l.rows();
        if n == 0 {
            return;
        }
        let b = l.acc_bytes();
        let regs = [R18, R19, R20, R21];
        ptr(a, R28, R29, self.buf(k));
        let label = format!(".Linit_{tag}");
        if l.bias.iter().all(|&v| v == 0) {
            count(a, n);
            a.label(&label);
            for _ in 0..b {
                a.st(YInc, R1);
            }
            loop_end(a, &label);
            return;
        }
        self.load_z(a, &format!("{}_l{k}_bias", self.p));
        // Four 16-bit rows a turn where the rows allow, to spend less on the loop.
        let (n4, per) = if b == 2 && n.is_multiple_of(4) {
            (n / 4, 4)
        } else {
            (n, 1)
        };
        count(a, n4);
        a.label(&label);
        for _ in 0..per {
            for r in &regs[..b] {
                self.lpm(a, *r, true);
            }
            for r in &regs[..b] {
                a.st(YInc, *r);
            }
        }
        loop_end(a, &label);
    }

    /// Set up r14:r15 and Z for layer k's walk from column `first`.
    fn walk_setup(&self, a: &mut Buffer, k: usize, first_label: &str) {
        ptr(a, R16, R17, self.buf(k));
        a.movw(R14, R16);
        self.load_z(a, first_label);
    }

    /// Read a column's length into r16 (r16:r17 when wide).
    fn read_len(&self, a: &mut Buffer, wide: bool) {
        self.lpm(a, R16, true);
        if wide {
            self.lpm(a, R17, true);
        }
    }

    /// The column routine if x (r20:r21) is not 0, else a skip; then the
    /// loop's end (see [`Self::column_end`]).
    fn column_if_active(&self, a: &mut Buffer, kern: &str, tag: &str, wide: bool) {
        a.cp(R20, R1);
        a.cpc(R21, R1);
        a.breq(format!(".L{tag}_skip"));
        self.column_end(a, kern, tag, wide);
    }

    /// Skip a column: Z += its length (in r16, or r16:r17 when wide).
    fn skip_column(&self, a: &mut Buffer, wide: bool) {
        a.add(R30, R16);
        a.adc(R31, if wide { R17 } else { R1 });
        self.z_carry(a);
    }

    /// The end of a walk's column loop (the label `.L{tag}_col`): the column
    /// routine for an active column, a skip for an inactive one.
    fn column_end(&self, a: &mut Buffer, kern: &str, tag: &str, wide: bool) {
        self.column_tail(a, kern, tag, wide);
        loop_end(a, &format!(".L{tag}_col"));
    }

    /// The column routine for an active column (`.L{tag}_skip` skips an
    /// inactive one); both go on at `.L{tag}_next`.
    fn column_tail(&self, a: &mut Buffer, kern: &str, tag: &str, wide: bool) {
        a.rcall(kern);
        a.rjmp(format!(".L{tag}_next"));
        a.label(format!(".L{tag}_skip"));
        self.skip_column(a, wide);
        a.label(format!(".L{tag}_next"));
    }

    /// `n` columns by `body` (given its label tag), two a turn of the loop
    /// (an odd one first) to spend less on counting.
    fn unrolled(&self, a: &mut Buffer, n: usize, tag: &str, body: &dyn Fn(&mut Buffer, &str)) {
        if n % 2 == 1 {
            body(a, &format!("{tag}o"));
        }
        if n >= 2 {
            count(a, n / 2);
            let col = format!(".L{tag}_col");
            a.label(&col);
            body(a, &format!("{tag}a"));
            body(a, &format!("{tag}b"));
            loop_end(a, &col);
        }
    }

    /// Layer k over `cols` int16 inputs at X.
    fn walk_dense(&self, a: &mut Buffer, k: usize, tag: &str) {
        let l = &self.layers[k];
        if l.cols == 0 {
            return;
        }
        let wide = self.allocation.coded[k].wide_len;
        let kern = crate::avr::kernels::kernel_label(self.allocation.codings[k], l.acc_bytes());
        self.walk_setup(a, k, &format!("{}_l{k}_w", self.p));
        count(a, l.cols);
        let col = format!(".L{tag}_col");
        a.label(&col);
        a.ld(R20, XInc);
        a.ld(R21, XInc);
        self.read_len(a, wide);
        self.column_if_active(a, &kern, tag, wide);
    }

    /// Layer 1 over one text encoder's buckets: x = count * value; counts are
    /// cleared as they are read.
    pub(super) fn walk_counts(&self, a: &mut Buffer, t: &InputPart, tag: &str) {
        let l = &self.layers[0];
        let wide = self.allocation.coded[0].wide_len;
        let kern = crate::avr::kernels::kernel_label(self.allocation.codings[0], l.acc_bytes());
        let v = t.value as u16 as u32;
        a.ldi(R16, lo(v));
        a.mov(R2, R16);
        a.ldi(R16, hi(v));
        a.mov(R3, R16);
        ptr(a, R26, R27, self.var("cnt"));
        self.walk_setup(a, 0, &format!("{}_l0_c{}", self.p, t.words.start));
        self.unrolled(a, t.len(), tag, &|a, tag| {
            self.read_len(a, wide);
            a.ld(R18, X);
            a.st(XInc, R1);
            a.tst(R18);
            a.breq(format!(".L{tag}_skip"));
            a.mul(R18, R2);
            a.movw(R20, R0);
            a.mul(R18, R3);
            a.add(R21, R0);
            a.clr(R1);
            self.column_tail(a, &kern, tag, wide);
        });
    }

    /// Arithmetic shift right of the accumulator in r18.. (2 or 4 bytes) by
    /// `n`; the low 16 bits end in r18:r19.
    fn shift(&self, a: &mut Buffer, acc: Elem, n: u32) {
        match acc {
            Elem::I16 => {
                let mut m = n;
                if m >= 8 {
                    a.mov(R18, R19);
                    a.lsl(R19);
                    a.sbc(R19, R19);
                    m -= 8;
                    for _ in 0..m {
                        a.asr(R18);
                    }
                    return;
                }
                for _ in 0..m {
                    a.asr(R19);
                    a.ror(R18);
                }
            }
            Elem::I32 => {
                let b = [R18, R19, R10, R11];
                let (q, m) = ((n / 8) as usize, n % 8);
                if q > 0 {
                    a.mov(R17, R11);
                    a.lsl(R17);
                    a.sbc(R17, R17);
                    for i in 0..4 {
                        let src = if i + q < 4 { b[i + q] } else { R17 };
                        a.mov(b[i], src);
                    }
                }
                for _ in 0..m {
                    a.asr(b[3 - q]);
                    for i in (0..3 - q).rev() {
                        a.ror(b[i]);
                    }
                }
            }
        }
    }

    /// The output of layer k's accumulator in r18..: shifted, then its
    /// activation (see [`Self::activate`], labels `.L{tag}_…`, Z kept when
    /// `keep_z`); the int16 in r18:r19.
    fn shift_activate(&self, a: &mut Buffer, k: usize, tag: &str, keep_z: bool) {
        let l = &self.layers[k];
        self.shift(a, l.acc, l.shift);
        if let Some(act) = &l.activation {
            self.activate(a, act, k, tag, keep_z);
        }
    }

    /// Layer k's epilogue, in place: shift, activation, int16 out; the last layer
    /// also takes the argmax into r24:r25.
    fn epilogue(&self, a: &mut Buffer, k: usize) {
        let l = &self.layers[k];
        let last = k + 1 == self.layers.len();
        if l.rows() == 0 {
            return;
        }
        let b = l.acc_bytes();
        ptr(a, R28, R29, self.buf(k));
        ptr(a, R26, R27, self.buf(k));
        if needs_zero(l.activation.as_ref()) {
            // r2:r3 = 0, what ReLU moves over a negative output.
            a.clr(R2);
            a.clr(R3);
        }
        if last {
            // Best so far: -32768 at class 0, so the first maximum wins.
            a.clr(R6);
            a.ldi(R16, hex(0x80));
            a.mov(R7, R16);
            a.clr(R8);
            a.clr(R9);
            a.clr(R4);
            a.clr(R5);
        }
        count(a, l.rows());
        let label = format!(".Lep{k}");
        a.label(&label);
        for r in [R18, R19, R10, R11].iter().take(b) {
            a.ld(*r, YInc);
        }
        self.shift_activate(a, k, &format!("ep{k}"), false);
        a.st(XInc, R18);
        a.st(XInc, R19);
        if last {
            a.cp(R6, R18);
            a.cpc(R7, R19);
            a.brge(format!(".Lep{k}_keep"));
            a.movw(R6, R18);
            a.movw(R8, R4);
            a.label(format!(".Lep{k}_keep"));
            a.sec();
            a.adc(R4, R1);
            a.adc(R5, R1);
        }
        loop_end(a, &label);
        if last {
            a.movw(R24, R8);
        }
    }

    /// Layer k with a dense kernel, on the int16 inputs at X.
    fn dense_layer(&self, a: &mut Buffer, k: usize) {
        let d = crate::avr::dense::DenseLayer {
            l: &self.layers[k],
            f: self.allocation.codings[k],
            tag: format!("{k}"),
            far: self.far,
        };
        let table = format!("{}_l{k}_w", self.p);
        d.emit(a, &self.buf(k), &|a: &mut Buffer| self.load_z(a, &table));
    }

    /// Layer k-1's epilogue fused with gap-nibble layer k's walk: each output
    /// goes straight from r18:r19 into its column, never stored.
    fn fused_walk(&self, a: &mut Buffer, k: usize) {
        let (prev, l) = (&self.layers[k - 1], &self.layers[k]);
        let tag = format!("f{k}");
        let wide = self.allocation.coded[k].wide_len;
        let kern = crate::avr::kernels::kernel_label(self.allocation.codings[k], l.acc_bytes());
        self.init_layer(a, k, &format!("{k}"));
        if l.cols == 0 {
            return;
        }
        if needs_zero(prev.activation.as_ref()) {
            // r2:r3 = 0, what ReLU moves over a negative output.
            a.clr(R2);
            a.clr(R3);
        }
        ptr(a, R26, R27, self.buf(k - 1));
        self.walk_setup(a, k, &format!("{}_l{k}_w", self.p));
        self.unrolled(a, l.cols, &tag, &|a, tag| {
            for r in [R18, R19, R10, R11].iter().take(prev.acc_bytes()) {
                a.ld(*r, XInc);
            }
            if prev.acc == Elem::I16 && prev.relu() {
                // A negative 16-bit sum shifts to a negative output, which
                // ReLU makes 0: its column is skipped before any shifting.
                self.read_len(a, wide);
                a.sbrc(R19, 7);
                a.rjmp(format!(".L{tag}_skip"));
                self.shift(a, prev.acc, prev.shift);
            } else {
                // Z is the walk's: a lookup table keeps it.
                self.shift_activate(a, k - 1, tag, true);
                self.read_len(a, wide);
            }
            a.movw(R20, R18);
            a.cp(R20, R1);
            a.cpc(R21, R1);
            a.breq(format!(".L{tag}_skip"));
            self.column_tail(a, &kern, tag, wide);
        });
    }

    /// `.Lrest`: layer 1's epilogue and every later layer; returns the class.
    pub(super) fn rest(&self, a: &mut Buffer) {
        a.comment("Layer 1's epilogue, then every later layer; the class in r24:r25.");
        a.label(".Lrest");
        for k in 1..self.layers.len() {
            a.comment(format!(
                "Layer {}: {} x {}, {}, {}-bit accumulators.",
                k + 1,
                self.layers[k].rows(),
                self.layers[k].cols,
                self.allocation.codings[k].kernel(),
                self.layers[k].acc.bits()
            ));
            if self.allocation.codings[k].is_dense() {
                self.epilogue(a, k - 1);
                ptr(a, R26, R27, self.buf(k - 1));
                self.dense_layer(a, k);
            } else {
                self.fused_walk(a, k);
            }
        }
        self.epilogue(a, self.layers.len() - 1);
        a.ret();
    }

    /// `.Lrun_dense`: every layer on the int16 input at X; class in r24:r25.
    pub(super) fn run_dense(&self, a: &mut Buffer) {
        a.comment("Every layer on the int16 input vector at X; the class in r24:r25.");
        a.label(".Lrun_dense");
        if self.allocation.codings[0].is_dense() {
            self.dense_layer(a, 0);
        } else {
            self.init_layer(a, 0, "dense");
            self.walk_dense(a, 0, "w0");
        }
        a.rjmp(".Lrest");
    }
}
