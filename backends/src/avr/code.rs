//! The model's code: layer walks and epilogues, the text encoders, and the
//! C API entry points, as avr-gcc assembly.
//!
//! Registers (see docs/avr.md): r1 = 0, r0 scratch; in a layer walk X reads
//! the inputs, Z the coded layer, r24:r25 count columns and r14:r15 hold
//! the accumulator base; kernels add into the accumulators through Y (see
//! `kernels.rs`). The entry points save every call-saved register they touch.

use super::buffer::Buffer;
use super::build::{at, dec, hex, hh8, hi, hi8, lo, lo8};
use super::inst::Ptr::{XInc, YInc, ZInc, X, Y};
use super::inst::{
    Dest, Io, Reg, Sym, R0, R1, R10, R11, R12, R13, R14, R15, R16, R17, R18, R19, R2, R20, R21,
    R22, R23, R24, R25, R26, R27, R28, R29, R3, R30, R31, R4, R5, R6, R7, R8, R9,
};
use super::plan::Allocation;
use crate::lowered::FusedLayer;
use crate::lowered::InputPart;
use zlmc_ir::Elem;

/// What the code generator needs to know about the model.
pub struct Gen<'a> {
    /// Symbol prefix (the model name).
    pub p: &'a str,
    /// The layers.
    pub layers: &'a [FusedLayer],
    /// The layout.
    pub allocation: &'a Allocation,
    /// Whether tables are read with `elpm` (flash beyond 64 KB).
    pub far: bool,
    /// For generators: end-of-sequence class and longest reply.
    pub generate: Option<(usize, usize)>,
    /// Whether the model is a classifier (has labels).
    pub classify: bool,
    /// Whether every encoder reads text (`NAME_encode`, `NAME_classify`).
    pub text_api: bool,
    /// Length of the input vector.
    pub inputs: usize,
}

/// The call-saved registers the entry points save.
const SAVED: [Reg; 18] = [
    R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13, R14, R15, R16, R17, R28, R29,
];

impl Gen<'_> {
    /// `lpm rd, Z` (`Z+` if `inc`); `elpm` where flash is far.
    fn lpm(&self, a: &mut Buffer, rd: Reg, inc: bool) {
        a.lpm(self.far, rd, inc);
    }

    /// Z (and RAMPZ where flash is far) = the flash address of `sym`.
    fn load_z(&self, a: &mut Buffer, sym: &str) {
        if self.far {
            a.ldi(R30, hh8(sym));
            a.out(Io::Rampz, R30);
        }
        a.ldi(R30, lo8(sym));
        a.ldi(R31, hi8(sym));
    }

    /// Carry of an add to Z into RAMPZ (far flash only).
    fn z_carry(&self, a: &mut Buffer) {
        if self.far {
            a.input(R0, Io::Rampz);
            a.adc(R0, R1);
            a.out(Io::Rampz, R0);
        }
    }

    /// The start of the C function `NAME_name`: a blank line, the comments,
    /// its symbol, global, then its label.
    fn entry(&self, a: &mut Buffer, name: &str, comments: &[&str]) {
        let p = self.p;
        a.blank();
        for c in comments {
            a.comment(c);
        }
        a.directive(format!(".global {p}_{name}"));
        a.directive(format!(".type {p}_{name}, @function"));
        a.label(format!("{p}_{name}"));
    }

    fn buf(&self, k: usize) -> String {
        format!("{}_buf{}", self.p, k % 2)
    }

    fn var(&self, v: &str) -> String {
        format!("{}_{v}", self.p)
    }
}

/// `reg_lo:reg_hi` = the address of `sym`.
fn ptr(a: &mut Buffer, reg_lo: Reg, reg_hi: Reg, sym: impl Into<Sym>) {
    let sym = sym.into();
    a.ldi(reg_lo, lo8(sym.clone()));
    a.ldi(reg_hi, hi8(sym));
}

/// r24:r25 = `n`, the count of a loop that ends with [`loop_end`].
fn count(a: &mut Buffer, n: usize) {
    a.ldi(R24, lo(n as u32));
    a.ldi(R25, hi(n as u32));
}

/// Count r24:r25 down and go back to `label`; the buffer turns the branch
/// into a branch over a jump if the loop's body is too long for it.
fn loop_end(a: &mut Buffer, label: &str) {
    a.sbiw(R24, 1);
    a.brne(label);
}

/// r16 = lower-case of r16 (A-Z only).
fn lower_r16(a: &mut Buffer, tag: &str) {
    a.cpi(R16, hex(0x41));
    a.brlo(tag);
    a.cpi(R16, hex(0x5B));
    a.brsh(tag);
    a.subi(R16, hex(0xE0));
    a.label(tag);
}

/// r17 = r16 * 31 (mod 256): r16 * 32 - r16.
fn times31(a: &mut Buffer) {
    a.mov(R17, R16);
    a.swap(R17);
    a.andi(R17, hex(0xF0));
    a.lsl(R17);
    a.sub(R17, R16);
}

/// The end of the C function `p_name`: its size for the linker and debuggers.
fn end(a: &mut Buffer, p: &str, name: &str) {
    a.directive(format!(".size {p}_{name}, .-{p}_{name}"));
}

fn push_saved(a: &mut Buffer) {
    for r in SAVED {
        a.push(r);
    }
}

fn pop_saved(a: &mut Buffer) {
    for r in SAVED.iter().rev() {
        a.pop(*r);
    }
}

impl Gen<'_> {
    /// Layer k's accumulators = its biases.
    fn init_layer(&self, a: &mut Buffer, k: usize, tag: &str) {
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
        let kern = super::kernels::kernel_label(self.allocation.codings[k], l.acc_bytes());
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
    fn walk_counts(&self, a: &mut Buffer, t: &InputPart, tag: &str) {
        let l = &self.layers[0];
        let wide = self.allocation.coded[0].wide_len;
        let kern = super::kernels::kernel_label(self.allocation.codings[0], l.acc_bytes());
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

    /// The output of layer `l`'s accumulator in r18..: shifted, then ReLU
    /// (r2:r3 = 0 moved over a negative one); the int16 in r18:r19.
    fn shift_relu(&self, a: &mut Buffer, l: &FusedLayer) {
        self.shift(a, l.acc, l.shift);
        if l.relu() {
            a.sbrc(R19, 7);
            a.movw(R18, R2);
        }
    }

    /// Layer k's epilogue, in place: shift, ReLU, int16 out; the last layer
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
        if l.relu() {
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
        self.shift_relu(a, l);
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
        let d = super::dense::DenseLayer {
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
        let kern = super::kernels::kernel_label(self.allocation.codings[k], l.acc_bytes());
        self.init_layer(a, k, &format!("{k}"));
        if l.cols == 0 {
            return;
        }
        if prev.relu() {
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
                self.shift_relu(a, prev);
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
    fn rest(&self, a: &mut Buffer) {
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
    fn run_dense(&self, a: &mut Buffer) {
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

    fn restore_rampz(&self, a: &mut Buffer) {
        if self.far {
            a.out(Io::Rampz, R1);
        }
    }

    /// `NAME_step`, `NAME_predict`.
    fn dense_api(&self, a: &mut Buffer) {
        let p = self.p;
        let last = self.layers.len() - 1;
        let classes = self.layers[last].rows();
        let signature = format!("void {p}_step(const int16_t *input, int16_t *logits)");
        self.entry(a, "step", &[&signature]);
        push_saved(a);
        // The logits pointer waits on the stack: the layers use every register.
        a.push(R22);
        a.push(R23);
        a.movw(R26, R24);
        a.rcall(".Lrun_dense");
        ptr(a, R26, R27, self.buf(last));
        a.pop(R31);
        a.pop(R30);
        count(a, classes);
        a.label(".Lstep_copy");
        a.ld(R0, XInc);
        a.st(ZInc, R0);
        a.ld(R0, XInc);
        a.st(ZInc, R0);
        loop_end(a, ".Lstep_copy");
        self.restore_rampz(a);
        pop_saved(a);
        a.ret();
        end(a, p, "step");
        let signature = format!("uint16_t {p}_predict(const int16_t *input)");
        self.entry(a, "predict", &[&signature]);
        push_saved(a);
        a.movw(R26, R24);
        a.rcall(".Lrun_dense");
        self.restore_rampz(a);
        pop_saved(a);
        a.ret();
        end(a, p, "predict");
    }

    /// Hashing: `.Lhit`, `.Lqbegin`, `.Lqchunk`, `.Lchash`.
    fn hashing(&self, a: &mut Buffer) {
        let (qs, qa, qb, qdone) = (
            self.var("qs"),
            self.var("qa"),
            self.var("qb"),
            self.var("qdone"),
        );
        a.blank();
        a.comment("Hashing in 8 bits: buckets are a power of two up to 256, so only h mod 256");
        a.comment("matters, and h*31 is h*32 - h. Each hash h goes to .Lhit: r6 = buckets - 1;");
        a.comment("r7 = 0: count it in the byte at r8:r9 + h; r7 = 1: add r10:r11 to the");
        a.comment("int16 at r8:r9 + 2h. Keeps r16, r22-r25, Y, Z.");
        a.label(".Lhit");
        a.and(R17, R6);
        a.movw(R26, R8);
        a.add(R26, R17);
        a.adc(R27, R1);
        a.tst(R7);
        a.brne(".Lhit_add");
        a.ld(R0, X);
        a.inc(R0);
        a.st(X, R0);
        a.ret();
        a.label(".Lhit_add");
        a.add(R26, R17);
        a.adc(R27, R1);
        a.ld(R0, X);
        a.add(R0, R10);
        a.st(XInc, R0);
        a.ld(R0, X);
        a.adc(R0, R11);
        a.st(X, R0);
        a.ret();

        if !self.allocation.text.iter().any(|t| t.is_query()) {
            return self.context_hashing(a);
        }
        a.blank();
        a.comment("Start hashing the query at Y (NULL: none): leading spaces dropped, the");
        a.comment("text padded with a space each side, A-Z lower-cased.");
        a.label(".Lqbegin");
        a.ldi(R16, dec(1));
        a.sts(&qdone, R16);
        a.cp(R28, R1);
        a.cpc(R29, R1);
        a.breq(".Lqbegin_end");
        a.label(".Lqbegin_sp");
        a.ld(R16, YInc);
        a.cpi(R16, hex(0x20));
        a.breq(".Lqbegin_sp");
        a.tst(R16);
        a.breq(".Lqbegin_end");
        lower_r16(a, ".Lqbegin_low");
        a.sts(&qb, R16);
        a.ldi(R16, hex(0x20));
        a.sts(&qa, R16);
        a.sts(&qs, R28);
        a.sts(at(&qs, 1), R29);
        a.sts(&qdone, R1);
        a.label(".Lqbegin_end");
        a.ret();

        a.blank();
        a.comment("Hash up to 255 more query trigrams (so no bucket count overflows);");
        a.comment("T set if some are left. State: a, b = the two bytes before c.");
        a.label(".Lqchunk");
        a.clt();
        a.lds(R16, &qdone);
        a.tst(R16);
        a.breq(".Lqc_go");
        a.ret();
        a.label(".Lqc_go");
        for (sym, r) in self.hash_state() {
            a.lds(r, sym);
        }
        a.ldi(R25, dec(255));
        a.label(".Lqc_loop");
        a.ld(R16, Y);
        a.tst(R16);
        a.brne(".Lqc_char");
        a.ldi(R16, hex(0x20));
        a.label(".Lqc_char");
        lower_r16(a, ".Lqc_low");
        a.mov(R24, R16);
        a.mov(R16, R22);
        times31(a);
        a.add(R17, R23);
        a.mov(R16, R17);
        times31(a);
        a.add(R17, R24);
        a.rcall(".Lhit");
        a.ld(R16, YInc);
        a.tst(R16);
        a.breq(".Lqc_end");
        a.mov(R22, R23);
        a.mov(R23, R24);
        a.dec(R25);
        a.brne(".Lqc_loop");
        for (sym, r) in self.hash_state() {
            a.sts(sym, r);
        }
        a.set();
        a.ret();
        a.label(".Lqc_end");
        a.ldi(R16, dec(1));
        a.sts(&qdone, R16);
        a.ret();
        self.context_hashing(a);
    }

    /// Where the query hashing keeps its state between chunks, and the
    /// registers that hold it: the pointer in Y, the two bytes before it.
    fn hash_state(&self) -> [(Sym, Reg); 4] {
        [
            (at(self.var("qs"), 0), R28),
            (at(self.var("qs"), 1), R29),
            (at(self.var("qa"), 0), R22),
            (at(self.var("qb"), 0), R23),
        ]
    }

    /// `.Lchash`, where some encoder hashes a context.
    fn context_hashing(&self, a: &mut Buffer) {
        let context = self.allocation.text.iter().any(|t| !t.is_query());
        let used = self.text_api || (self.generate.is_some() && self.allocation.ctx_len > 0);
        if !context || !used {
            return;
        }
        a.blank();
        a.comment("Hash the context at Y, r24:r25 bytes long: for each position, its 1-, 2-");
        a.comment("and 3-gram (while bytes last), seeded with the position times 7.");
        a.label(".Lchash");
        a.clr(R23);
        a.label(".Lch_pos");
        a.cp(R24, R1);
        a.cpc(R25, R1);
        a.breq(".Lch_end");
        a.ldi(R22, dec(3));
        a.cpi(R24, dec(3));
        a.cpc(R25, R1);
        a.brsh(".Lch_n");
        a.mov(R22, R24);
        a.label(".Lch_n");
        a.movw(R30, R28);
        a.mov(R16, R23);
        a.label(".Lch_gram");
        times31(a);
        a.ld(R0, ZInc);
        a.add(R17, R0);
        a.mov(R16, R17);
        a.rcall(".Lhit");
        a.dec(R22);
        a.brne(".Lch_gram");
        a.adiw(R28, 1);
        a.sbiw(R24, 1);
        a.subi(R23, hex(0xF9));
        a.rjmp(".Lch_pos");
        a.label(".Lch_end");
        a.ret();
    }

    /// Hit registers for counting into the counts buffer with `mask`.
    fn count_mode(&self, a: &mut Buffer, buckets: usize) {
        a.ldi(R16, dec(buckets - 1));
        a.mov(R6, R16);
        a.clr(R7);
        ptr(a, R16, R17, self.var("cnt"));
        a.movw(R8, R16);
    }

    /// `NAME_text_step`: one inference step on the query at `NAME_qptr` and
    /// (generators) the context in `NAME_ctx`; the class in r24:r25.
    fn text_step(&self, a: &mut Buffer) {
        let p = self.p;
        self.entry(
            a,
            "text_step",
            &[
                &format!(
                    "uint16_t {p}_text_step(void): one inference step of {p}_reply or {p}_classify"
                ),
                &format!(
                    "on the query at {p}_qptr{}. A function of its own so that profilers can",
                    if self.generate.is_some() {
                        " and the context in {p}_ctx"
                    } else {
                        ""
                    }
                ),
                "count its cycles.",
            ],
        );
        push_saved(a);
        let queries: Vec<(usize, &InputPart)> = self
            .allocation
            .text
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_query())
            .collect();
        if self.allocation.cache {
            a.lds(R16, self.var("newq"));
            a.tst(R16);
            a.brne(".Lts_newq");
            a.rjmp(".Lts_cached");
            a.label(".Lts_newq");
        }
        a.comment("Layer 1: biases, then the query's buckets.");
        self.init_layer(a, 0, "text");
        for (i, t) in &queries {
            a.lds(R28, self.var("qptr"));
            a.lds(R29, at(self.var("qptr"), 1));
            a.rcall(".Lqbegin");
            a.label(format!(".Lts_q{i}"));
            self.count_mode(a, t.len());
            a.rcall(".Lqchunk");
            a.clr(R16);
            a.bld(R16, 0);
            a.push(R16);
            self.walk_counts(a, t, &format!("q{i}"));
            a.pop(R16);
            a.tst(R16);
            a.breq(Dest::Next(1));
            a.rjmp(format!(".Lts_q{i}"));
            a.label("1");
        }
        let acc0 = self.layers[0].rows() * self.layers[0].acc_bytes();
        if self.allocation.cache {
            a.comment("Keep the sums for the rest of the reply.");
            ptr(a, R26, R27, self.buf(0));
            ptr(a, R28, R29, self.var("cache"));
            self.copy(a, acc0, ".Lts_keep");
            a.sts(self.var("newq"), R1);
            a.rjmp(".Lts_ctx");
            a.label(".Lts_cached");
            ptr(a, R26, R27, self.var("cache"));
            ptr(a, R28, R29, self.buf(0));
            self.copy(a, acc0, ".Lts_load");
            a.label(".Lts_ctx");
        }
        if self.generate.is_some() && self.allocation.ctx_len > 0 {
            for (i, t) in self
                .allocation
                .text
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.is_query())
            {
                a.comment("The context's buckets.");
                self.count_mode(a, t.len());
                ptr(a, R28, R29, self.var("ctx"));
                count(a, self.allocation.ctx_len);
                a.rcall(".Lchash");
                self.walk_counts(a, t, &format!("c{i}"));
            }
        }
        a.rcall(".Lrest");
        self.restore_rampz(a);
        pop_saved(a);
        a.ret();
        end(a, p, "text_step");
    }

    /// Copy `n` bytes (an even number) from X to Y, two a turn.
    fn copy(&self, a: &mut Buffer, n: usize, label: &str) {
        if n == 0 {
            return;
        }
        count(a, n / 2);
        a.label(label);
        for _ in 0..2 {
            a.ld(R0, XInc);
            a.st(YInc, R0);
        }
        loop_end(a, label);
    }

    /// `NAME_encode(query, context, input)`.
    fn encode_api(&self, a: &mut Buffer) {
        let p = self.p;
        let signature =
            format!("void {p}_encode(const char *query, const char *context, int16_t *input)");
        self.entry(a, "encode", &[&signature]);
        push_saved(a);
        a.movw(R2, R24);
        a.movw(R4, R22);
        a.movw(R14, R20);
        if self.inputs > 0 {
            a.movw(R26, R20);
            count(a, self.inputs);
            a.label(".Lenc_clear");
            a.st(XInc, R1);
            a.st(XInc, R1);
            a.sbiw(R24, 1);
            a.brne(".Lenc_clear");
        }
        for (i, t) in self.allocation.text.iter().enumerate() {
            // Dense mode: add the value to input[first + h].
            a.ldi(R16, dec(t.len() - 1));
            a.mov(R6, R16);
            a.clr(R7);
            a.inc(R7);
            a.movw(R8, R14);
            let off = 2 * t.words.start as u32;
            if off > 0 {
                a.ldi(R16, lo(off));
                a.add(R8, R16);
                a.ldi(R16, hi(off));
                a.adc(R9, R16);
            }
            let v = t.value as u16 as u32;
            a.ldi(R16, lo(v));
            a.mov(R10, R16);
            a.ldi(R16, hi(v));
            a.mov(R11, R16);
            if t.is_query() {
                a.movw(R28, R2);
                a.rcall(".Lqbegin");
                a.label(format!(".Lenc_q{i}"));
                a.rcall(".Lqchunk");
                a.brts(format!(".Lenc_q{i}"));
            } else {
                // The context's length, NULL counting as "".
                a.movw(R28, R4);
                a.clr(R24);
                a.clr(R25);
                a.cp(R28, R1);
                a.cpc(R29, R1);
                a.breq(format!(".Lenc_c{i}"));
                a.movw(R30, R28);
                a.label(format!(".Lenc_len{i}"));
                a.ld(R0, ZInc);
                a.tst(R0);
                a.breq(format!(".Lenc_c{i}"));
                a.adiw(R24, 1);
                a.rjmp(format!(".Lenc_len{i}"));
                a.label(format!(".Lenc_c{i}"));
                a.rcall(".Lchash");
            }
        }
        pop_saved(a);
        a.ret();
        end(a, p, "encode");
    }

    /// `NAME_reply(query, reply, cap)`.
    fn reply_api(&self, a: &mut Buffer, eos: usize, max_length: usize) {
        let p = self.p;
        let max = max_length.min(0xFFFF) as u32;
        let l = self.allocation.ctx_len;
        let signature = format!("size_t {p}_reply(const char *query, char *reply, size_t cap)");
        self.entry(a, "reply", &[&signature]);
        push_saved(a);
        a.sts(self.var("qptr"), R24);
        a.sts(at(self.var("qptr"), 1), R25);
        a.movw(R28, R22);
        a.movw(R14, R20);
        a.clr(R12);
        a.clr(R13);
        a.cp(R14, R1);
        a.cpc(R15, R1);
        a.brne(".Lr_go");
        a.rjmp(".Lr_ret");
        a.label(".Lr_go");
        if l > 0 {
            a.comment("The context starts as spaces.");
            ptr(a, R26, R27, self.var("ctx"));
            a.ldi(R16, hex(0x20));
            a.ldi(R17, dec(l));
            a.label(".Lr_sp");
            a.st(XInc, R16);
            a.dec(R17);
            a.brne(".Lr_sp");
        }
        if self.allocation.cache {
            a.ldi(R16, dec(1));
            a.sts(self.var("newq"), R16);
        }
        a.label(".Lr_loop");
        a.ldi(R16, lo(max));
        a.ldi(R17, hi(max));
        a.cp(R12, R16);
        a.cpc(R13, R17);
        a.breq(".Lr_done");
        a.movw(R16, R12);
        a.subi(R16, hex(0xFF));
        a.sbci(R17, hex(0xFF));
        a.cp(R16, R14);
        a.cpc(R17, R15);
        a.brsh(".Lr_done");
        a.rcall(format!("{p}_text_step"));
        a.cpi(R24, lo(eos as u32));
        a.ldi(R16, hi(eos as u32));
        a.cpc(R25, R16);
        a.breq(".Lr_done");
        self.load_z(a, &format!("{p}_charset"));
        a.add(R30, R24);
        a.adc(R31, R25);
        self.z_carry(a);
        self.lpm(a, R16, false);
        a.st(YInc, R16);
        a.ldi(R17, dec(1));
        a.add(R12, R17);
        a.adc(R13, R1);
        if l > 0 {
            a.comment("Slide the context left; the new byte, lower-cased, goes last.");
            lower_r16(a, ".Lr_low");
            ptr(a, R26, R27, self.var("ctx"));
            if l > 1 {
                ptr(a, R30, R31, at(self.var("ctx"), 1));
                a.ldi(R17, dec(l - 1));
                a.label(".Lr_slide");
                a.ld(R0, ZInc);
                a.st(XInc, R0);
                a.dec(R17);
                a.brne(".Lr_slide");
            }
            a.st(X, R16);
        }
        a.rjmp(".Lr_loop");
        a.label(".Lr_done");
        a.st(Y, R1);
        a.label(".Lr_ret");
        a.movw(R24, R12);
        self.restore_rampz(a);
        pop_saved(a);
        a.ret();
        end(a, p, "reply");
    }

    /// `NAME_classify(text)` and `NAME_label(cls)`.
    fn classify_api(&self, a: &mut Buffer) {
        let p = self.p;
        let classes = self.layers.last().map(FusedLayer::rows).unwrap_or(0) as u32;
        if self.text_api {
            let signature = format!("uint16_t {p}_classify(const char *text)");
            self.entry(a, "classify", &[&signature]);
            a.sts(self.var("qptr"), R24);
            a.sts(at(self.var("qptr"), 1), R25);
            a.rjmp(format!("{p}_text_step"));
            end(a, p, "classify");
        }
        let signature =
            format!("const char *{p}_label(uint16_t cls): copied from flash into {p}_labelbuf");
        self.entry(a, "label", &[&signature]);
        a.cpi(R24, lo(classes));
        a.ldi(R18, hi(classes));
        a.cpc(R25, R18);
        a.brlo(".Llabel_ok");
        a.clr(R24);
        a.clr(R25);
        a.ret();
        a.label(".Llabel_ok");
        self.load_z(a, &format!("{p}_label_at"));
        a.lsl(R24);
        a.rol(R25);
        a.add(R30, R24);
        a.adc(R31, R25);
        self.z_carry(a);
        self.lpm(a, R18, true);
        self.lpm(a, R19, false);
        self.load_z(a, &format!("{p}_label_text"));
        a.add(R30, R18);
        a.adc(R31, R19);
        self.z_carry(a);
        ptr(a, R26, R27, self.var("labelbuf"));
        a.label(".Llabel_copy");
        self.lpm(a, R0, true);
        a.st(XInc, R0);
        a.tst(R0);
        a.brne(".Llabel_copy");
        ptr(a, R24, R25, self.var("labelbuf"));
        self.restore_rampz(a);
        a.ret();
        end(a, p, "label");
    }

    /// All the code, in `.text`.
    pub fn code(&self, a: &mut Buffer) {
        a.section(".text");
        self.dense_api(a);
        let text_step = self.generate.is_some() || (self.classify && self.text_api);
        if self.text_api {
            self.encode_api(a);
        }
        if let Some((eos, max)) = self.generate {
            self.reply_api(a, eos, max);
        }
        if self.classify {
            self.classify_api(a);
        }
        if text_step {
            self.text_step(a);
        }
        if !self.allocation.text.is_empty() {
            self.hashing(a);
        }
        a.blank();
        self.run_dense(a);
        a.blank();
        self.rest(a);
        a.blank();
        super::kernels::kernels(
            a,
            &super::plan::kernels_used(self.layers, self.allocation),
            self.far,
        );
        super::dense::emit_routines(
            a,
            &super::dense::routines(self.layers, &self.allocation.codings),
            self.far,
        );
    }
}
