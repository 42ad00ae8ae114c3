//! The model's code: layer walks and epilogues, the text encoders, and the
//! C API entry points, as avr-gcc assembly.
//!
//! Registers (see docs/avr.md): r1 = 0, r0 scratch; in a layer walk X reads
//! the inputs, Z the weight stream, r24:r25 count columns and r14:r15 hold
//! the accumulator base; kernels add into the accumulators through Y (see
//! `kernels.rs`). The entry points save every call-saved register they touch.

use super::asm::{hi, lo, Asm};
use super::plan::{Plan, TextInput};
use crate::layers::Layer;
use zlmc_ir::Elem;

/// What the code generator needs to know about the model.
pub struct Gen<'a> {
    /// Symbol prefix (the model name).
    pub p: &'a str,
    /// The layers.
    pub layers: &'a [Layer],
    /// The layout.
    pub plan: &'a Plan,
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
const SAVED: [&str; 18] = [
    "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
    "r16", "r17", "r28", "r29",
];

impl Gen<'_> {
    fn lpm(&self) -> &'static str {
        if self.far {
            "elpm"
        } else {
            "lpm"
        }
    }

    /// Z (and RAMPZ where flash is far) = the flash address of `sym`.
    fn load_z(&self, a: &mut Asm, sym: &str) {
        if self.far {
            a.i(format!("ldi r30, hh8({sym})"));
            a.i("out _SFR_IO_ADDR(RAMPZ), r30");
        }
        a.i(format!("ldi r30, lo8({sym})"));
        a.i(format!("ldi r31, hi8({sym})"));
    }

    /// Carry of an add to Z into RAMPZ (far flash only).
    fn z_carry(&self, a: &mut Asm) {
        if self.far {
            a.i("in r0, _SFR_IO_ADDR(RAMPZ)");
            a.i("adc r0, r1");
            a.i("out _SFR_IO_ADDR(RAMPZ), r0");
        }
    }

    fn buf(&self, k: usize) -> String {
        format!("{}_buf{}", self.p, k % 2)
    }

    fn var(&self, v: &str) -> String {
        format!("{}_{v}", self.p)
    }
}

/// `reg_lo:reg_hi` = the address of `sym`.
fn ptr(a: &mut Asm, reg_lo: &str, reg_hi: &str, sym: &str) {
    a.i(format!("ldi {reg_lo}, lo8({sym})"));
    a.i(format!("ldi {reg_hi}, hi8({sym})"));
}

/// r24:r25 = `n`, the count of a loop that ends with [`loop_end`].
fn count(a: &mut Asm, n: usize) {
    a.i(format!("ldi r24, {}", lo(n as u32)));
    a.i(format!("ldi r25, {}", hi(n as u32)));
}

/// Count r24:r25 down and go back to `label` (placed at code offset `start`).
fn loop_end(a: &mut Asm, label: &str, start: usize) {
    a.i("sbiw r24, 1");
    // A branch reaches 63 words back; a longer body needs a jump.
    if (a.code_bytes - start) / 2 < 60 {
        a.i(format!("brne {label}"));
    } else {
        a.i("breq 1f");
        a.i(format!("rjmp {label}"));
        a.l("1");
    }
}

/// r16 = lower-case of r16 (A-Z only).
fn lower_r16(a: &mut Asm, tag: &str) {
    a.i("cpi r16, 0x41");
    a.i(format!("brlo {tag}"));
    a.i("cpi r16, 0x5B");
    a.i(format!("brsh {tag}"));
    a.i("subi r16, 0xE0");
    a.l(tag);
}

/// r17 = r16 * 31 (mod 256): r16 * 32 - r16.
fn times31(a: &mut Asm) {
    a.i("mov r17, r16");
    a.i("swap r17");
    a.i("andi r17, 0xF0");
    a.i("lsl r17");
    a.i("sub r17, r16");
}

fn push_saved(a: &mut Asm) {
    for r in SAVED {
        a.i(format!("push {r}"));
    }
}

fn pop_saved(a: &mut Asm) {
    for r in SAVED.iter().rev() {
        a.i(format!("pop {r}"));
    }
}

impl Gen<'_> {
    /// Layer k's accumulators = its biases.
    fn init_layer(&self, a: &mut Asm, k: usize, tag: &str) {
        let l = &self.layers[k];
        let n = l.rows();
        if n == 0 {
            return;
        }
        let b = l.acc_bytes();
        let regs = ["r18", "r19", "r20", "r21"];
        ptr(a, "r28", "r29", &self.buf(k));
        count(a, n);
        let label = format!(".Linit_{tag}");
        if l.bias.iter().all(|&v| v == 0) {
            a.l(&label);
            let start = a.code_bytes;
            for _ in 0..b {
                a.i("st Y+, r1");
            }
            loop_end(a, &label, start);
            return;
        }
        self.load_z(a, &format!("{}_l{k}_bias", self.p));
        a.l(&label);
        let start = a.code_bytes;
        for r in &regs[..b] {
            a.i(format!("{} {r}, Z+", self.lpm()));
        }
        for r in &regs[..b] {
            a.i(format!("st Y+, {r}"));
        }
        loop_end(a, &label, start);
    }

    /// Set up r14:r15 and Z for layer k's walk from column `first`.
    fn walk_setup(&self, a: &mut Asm, k: usize, first_label: &str) {
        ptr(a, "r16", "r17", &self.buf(k));
        a.i("movw r14, r16");
        self.load_z(a, first_label);
    }

    /// Skip a column: Z += its length (in r16, or r16:r17 when wide).
    fn skip_column(&self, a: &mut Asm, wide: bool) {
        a.i("add r30, r16");
        a.i(if wide { "adc r31, r17" } else { "adc r31, r1" });
        self.z_carry(a);
    }

    /// Layer k over `cols` int16 inputs at X.
    fn walk_dense(&self, a: &mut Asm, k: usize, tag: &str) {
        let l = &self.layers[k];
        if l.cols == 0 {
            return;
        }
        let wide = self.plan.streams[k].wide_len;
        let kern = super::kernels::kernel_label(self.plan.formats[k], l.acc_bytes());
        self.walk_setup(a, k, &format!("{}_l{k}_w", self.p));
        count(a, l.cols);
        let col = format!(".L{tag}_col");
        a.l(&col);
        let start = a.code_bytes;
        a.i("ld r20, X+");
        a.i("ld r21, X+");
        a.i(format!("{} r16, Z+", self.lpm()));
        if wide {
            a.i(format!("{} r17, Z+", self.lpm()));
        }
        a.i("cp r20, r1");
        a.i("cpc r21, r1");
        a.i(format!("breq .L{tag}_skip"));
        a.i(format!("rcall {kern}"));
        a.i(format!("rjmp .L{tag}_next"));
        a.l(format!(".L{tag}_skip"));
        self.skip_column(a, wide);
        a.l(format!(".L{tag}_next"));
        loop_end(a, &col, start);
    }

    /// Layer 1 over one text encoder's buckets: x = count * value; counts are
    /// cleared as they are read.
    fn walk_counts(&self, a: &mut Asm, t: &TextInput, tag: &str) {
        let l = &self.layers[0];
        let wide = self.plan.streams[0].wide_len;
        let kern = super::kernels::kernel_label(self.plan.formats[0], l.acc_bytes());
        let v = t.value as u16 as u32;
        a.i(format!("ldi r16, {}", lo(v)));
        a.i("mov r2, r16");
        a.i(format!("ldi r16, {}", hi(v)));
        a.i("mov r3, r16");
        ptr(a, "r26", "r27", &self.var("cnt"));
        self.walk_setup(a, 0, &format!("{}_l0_c{}", self.p, t.first));
        count(a, t.buckets);
        let col = format!(".L{tag}_col");
        a.l(&col);
        let start = a.code_bytes;
        a.i(format!("{} r16, Z+", self.lpm()));
        if wide {
            a.i(format!("{} r17, Z+", self.lpm()));
        }
        a.i("ld r18, X");
        a.i("st X+, r1");
        a.i("tst r18");
        a.i(format!("breq .L{tag}_skip"));
        a.i("mul r18, r2");
        a.i("movw r20, r0");
        a.i("mul r18, r3");
        a.i("add r21, r0");
        a.i("clr r1");
        a.i(format!("rcall {kern}"));
        a.i(format!("rjmp .L{tag}_next"));
        a.l(format!(".L{tag}_skip"));
        self.skip_column(a, wide);
        a.l(format!(".L{tag}_next"));
        loop_end(a, &col, start);
    }

    /// Arithmetic shift right of the accumulator in r18.. (2 or 4 bytes) by
    /// `n`; the low 16 bits end in r18:r19.
    fn shift(&self, a: &mut Asm, acc: Elem, n: u32) {
        match acc {
            Elem::I16 => {
                let mut m = n;
                if m >= 8 {
                    a.i("mov r18, r19");
                    a.i("lsl r19");
                    a.i("sbc r19, r19");
                    m -= 8;
                    for _ in 0..m {
                        a.i("asr r18");
                    }
                    return;
                }
                for _ in 0..m {
                    a.i("asr r19");
                    a.i("ror r18");
                }
            }
            Elem::I32 => {
                let b = ["r18", "r19", "r10", "r11"];
                let (q, m) = ((n / 8) as usize, n % 8);
                if q > 0 {
                    a.i("mov r17, r11");
                    a.i("lsl r17");
                    a.i("sbc r17, r17");
                    for i in 0..4 {
                        let src = if i + q < 4 { b[i + q] } else { "r17" };
                        a.i(format!("mov {}, {src}", b[i]));
                    }
                }
                for _ in 0..m {
                    a.i(format!("asr {}", b[3 - q]));
                    for i in (0..3 - q).rev() {
                        a.i(format!("ror {}", b[i]));
                    }
                }
            }
        }
    }

    /// Layer k's epilogue, in place: shift, ReLU, int16 out; the last layer
    /// also takes the argmax into r24:r25.
    fn epilogue(&self, a: &mut Asm, k: usize) {
        let l = &self.layers[k];
        let last = k + 1 == self.layers.len();
        if l.rows() == 0 {
            return;
        }
        let b = l.acc_bytes();
        ptr(a, "r28", "r29", &self.buf(k));
        ptr(a, "r26", "r27", &self.buf(k));
        if last {
            // Best so far: -32768 at class 0, so the first maximum wins.
            a.i("clr r6");
            a.i("ldi r16, 0x80");
            a.i("mov r7, r16");
            a.i("clr r8");
            a.i("clr r9");
            a.i("clr r4");
            a.i("clr r5");
        }
        count(a, l.rows());
        let label = format!(".Lep{k}");
        a.l(&label);
        let start = a.code_bytes;
        for r in ["r18", "r19", "r10", "r11"].iter().take(b) {
            a.i(format!("ld {r}, Y+"));
        }
        self.shift(a, l.acc, l.shift);
        if l.relu {
            a.i("sbrs r19, 7");
            a.i(format!("rjmp .Lep{k}_pos"));
            a.i("clr r18");
            a.i("clr r19");
            a.l(format!(".Lep{k}_pos"));
        }
        a.i("st X+, r18");
        a.i("st X+, r19");
        if last {
            a.i("cp r6, r18");
            a.i("cpc r7, r19");
            a.i(format!("brge .Lep{k}_keep"));
            a.i("movw r6, r18");
            a.i("movw r8, r4");
            a.l(format!(".Lep{k}_keep"));
            a.i("sec");
            a.i("adc r4, r1");
            a.i("adc r5, r1");
        }
        loop_end(a, &label, start);
        if last {
            a.i("movw r24, r8");
        }
    }

    /// `.Lrest`: layer 1's epilogue and every later layer; returns the class.
    fn rest(&self, a: &mut Asm) {
        a.c("Layer 1's epilogue, then every later layer; the class in r24:r25.");
        a.l(".Lrest");
        self.epilogue(a, 0);
        for k in 1..self.layers.len() {
            a.c(format!(
                "Layer {}: {} x {}, {} columns, {}-bit accumulators.",
                k + 1,
                self.layers[k].rows(),
                self.layers[k].cols,
                self.plan.formats[k].name(),
                self.layers[k].acc.bits()
            ));
            self.init_layer(a, k, &format!("{k}"));
            ptr(a, "r26", "r27", &self.buf(k - 1));
            self.walk_dense(a, k, &format!("w{k}"));
            self.epilogue(a, k);
        }
        a.i("ret");
    }

    /// `.Lrun_dense`: every layer on the int16 input at X; class in r24:r25.
    fn run_dense(&self, a: &mut Asm) {
        a.c("Every layer on the int16 input vector at X; the class in r24:r25.");
        a.l(".Lrun_dense");
        self.init_layer(a, 0, "dense");
        self.walk_dense(a, 0, "w0");
        a.i("rjmp .Lrest");
    }

    fn restore_rampz(&self, a: &mut Asm) {
        if self.far {
            a.i("out _SFR_IO_ADDR(RAMPZ), r1");
        }
    }

    /// `NAME_step`, `NAME_predict`.
    fn dense_api(&self, a: &mut Asm) {
        let p = self.p;
        let last = self.layers.len() - 1;
        let classes = self.layers[last].rows();
        a.blank();
        a.c(format!(
            "void {p}_step(const int16_t *input, int16_t *logits)"
        ));
        a.d(format!(".global {p}_step"));
        a.d(format!(".type {p}_step, @function"));
        a.l(format!("{p}_step"));
        push_saved(a);
        a.i("movw r2, r22");
        a.i("movw r26, r24");
        a.i("rcall .Lrun_dense");
        ptr(a, "r26", "r27", &self.buf(last));
        a.i("movw r30, r2");
        count(a, classes);
        a.l(".Lstep_copy");
        let start = a.code_bytes;
        a.i("ld r0, X+");
        a.i("st Z+, r0");
        a.i("ld r0, X+");
        a.i("st Z+, r0");
        loop_end(a, ".Lstep_copy", start);
        self.restore_rampz(a);
        pop_saved(a);
        a.i("ret");
        a.d(format!(".size {p}_step, .-{p}_step"));
        a.blank();
        a.c(format!("uint16_t {p}_predict(const int16_t *input)"));
        a.d(format!(".global {p}_predict"));
        a.d(format!(".type {p}_predict, @function"));
        a.l(format!("{p}_predict"));
        push_saved(a);
        a.i("movw r26, r24");
        a.i("rcall .Lrun_dense");
        self.restore_rampz(a);
        pop_saved(a);
        a.i("ret");
        a.d(format!(".size {p}_predict, .-{p}_predict"));
    }

    /// Hashing: `.Lhit`, `.Lqbegin`, `.Lqchunk`, `.Lchash`.
    fn hashing(&self, a: &mut Asm) {
        let (qs, qa, qb, qdone) = (
            self.var("qs"),
            self.var("qa"),
            self.var("qb"),
            self.var("qdone"),
        );
        a.blank();
        a.c("Hashing in 8 bits: buckets are a power of two up to 256, so only h mod 256");
        a.c("matters, and h*31 is h*32 - h. Each hash h goes to .Lhit: r6 = buckets - 1;");
        a.c("r7 = 0: count it in the byte at r8:r9 + h; r7 = 1: add r10:r11 to the");
        a.c("int16 at r8:r9 + 2h. Keeps r16, r22-r25, Y, Z.");
        a.l(".Lhit");
        a.i("and r17, r6");
        a.i("movw r26, r8");
        a.i("add r26, r17");
        a.i("adc r27, r1");
        a.i("tst r7");
        a.i("brne .Lhit_add");
        a.i("ld r0, X");
        a.i("inc r0");
        a.i("st X, r0");
        a.i("ret");
        a.l(".Lhit_add");
        a.i("add r26, r17");
        a.i("adc r27, r1");
        a.i("ld r0, X");
        a.i("add r0, r10");
        a.i("st X+, r0");
        a.i("ld r0, X");
        a.i("adc r0, r11");
        a.i("st X, r0");
        a.i("ret");

        if !self.plan.text.iter().any(|t| t.query) {
            return self.context_hashing(a);
        }
        a.blank();
        a.c("Start hashing the query at Y (NULL: none): leading spaces dropped, the");
        a.c("text padded with a space each side, A-Z lower-cased.");
        a.l(".Lqbegin");
        a.i("ldi r16, 1");
        a.i(format!("sts {qdone}, r16"));
        a.i("cp r28, r1");
        a.i("cpc r29, r1");
        a.i("breq .Lqbegin_end");
        a.l(".Lqbegin_sp");
        a.i("ld r16, Y+");
        a.i("cpi r16, 0x20");
        a.i("breq .Lqbegin_sp");
        a.i("tst r16");
        a.i("breq .Lqbegin_end");
        lower_r16(a, ".Lqbegin_low");
        a.i(format!("sts {qb}, r16"));
        a.i("ldi r16, 0x20");
        a.i(format!("sts {qa}, r16"));
        a.i(format!("sts {qs}, r28"));
        a.i(format!("sts {qs}+1, r29"));
        a.i(format!("sts {qdone}, r1"));
        a.l(".Lqbegin_end");
        a.i("ret");

        a.blank();
        a.c("Hash up to 255 more query trigrams (so no bucket count overflows);");
        a.c("T set if some are left. State: a, b = the two bytes before c.");
        a.l(".Lqchunk");
        a.i("clt");
        a.i(format!("lds r16, {qdone}"));
        a.i("tst r16");
        a.i("breq .Lqc_go");
        a.i("ret");
        a.l(".Lqc_go");
        a.i(format!("lds r28, {qs}"));
        a.i(format!("lds r29, {qs}+1"));
        a.i(format!("lds r22, {qa}"));
        a.i(format!("lds r23, {qb}"));
        a.i("ldi r25, 255");
        a.l(".Lqc_loop");
        a.i("ld r16, Y");
        a.i("tst r16");
        a.i("brne .Lqc_char");
        a.i("ldi r16, 0x20");
        a.l(".Lqc_char");
        lower_r16(a, ".Lqc_low");
        a.i("mov r24, r16");
        a.i("mov r16, r22");
        times31(a);
        a.i("add r17, r23");
        a.i("mov r16, r17");
        times31(a);
        a.i("add r17, r24");
        a.i("rcall .Lhit");
        a.i("ld r16, Y+");
        a.i("tst r16");
        a.i("breq .Lqc_end");
        a.i("mov r22, r23");
        a.i("mov r23, r24");
        a.i("dec r25");
        a.i("brne .Lqc_loop");
        a.i(format!("sts {qs}, r28"));
        a.i(format!("sts {qs}+1, r29"));
        a.i(format!("sts {qa}, r22"));
        a.i(format!("sts {qb}, r23"));
        a.i("set");
        a.i("ret");
        a.l(".Lqc_end");
        a.i("ldi r16, 1");
        a.i(format!("sts {qdone}, r16"));
        a.i("ret");
        self.context_hashing(a);
    }

    /// `.Lchash`, where some encoder hashes a context.
    fn context_hashing(&self, a: &mut Asm) {
        let context = self.plan.text.iter().any(|t| !t.query);
        let used = self.text_api || (self.generate.is_some() && self.plan.ctx_len > 0);
        if !context || !used {
            return;
        }
        a.blank();
        a.c("Hash the context at Y, r24:r25 bytes long: for each position, its 1-, 2-");
        a.c("and 3-gram (while bytes last), seeded with the position times 7.");
        a.l(".Lchash");
        a.i("clr r23");
        a.l(".Lch_pos");
        a.i("cp r24, r1");
        a.i("cpc r25, r1");
        a.i("breq .Lch_end");
        a.i("ldi r22, 3");
        a.i("cpi r24, 3");
        a.i("cpc r25, r1");
        a.i("brsh .Lch_n");
        a.i("mov r22, r24");
        a.l(".Lch_n");
        a.i("movw r30, r28");
        a.i("mov r16, r23");
        a.l(".Lch_gram");
        times31(a);
        a.i("ld r0, Z+");
        a.i("add r17, r0");
        a.i("mov r16, r17");
        a.i("rcall .Lhit");
        a.i("dec r22");
        a.i("brne .Lch_gram");
        a.i("adiw r28, 1");
        a.i("sbiw r24, 1");
        a.i("subi r23, 0xF9");
        a.i("rjmp .Lch_pos");
        a.l(".Lch_end");
        a.i("ret");
    }

    /// Hit registers for counting into the counts buffer with `mask`.
    fn count_mode(&self, a: &mut Asm, buckets: usize) {
        a.i(format!("ldi r16, {}", buckets - 1));
        a.i("mov r6, r16");
        a.i("clr r7");
        ptr(a, "r16", "r17", &self.var("cnt"));
        a.i("movw r8, r16");
    }

    /// `NAME_text_step`: one inference step on the query at `NAME_qptr` and
    /// (generators) the context in `NAME_ctx`; the class in r24:r25.
    fn text_step(&self, a: &mut Asm) {
        let p = self.p;
        a.blank();
        a.c(format!(
            "uint16_t {p}_text_step(void): one inference step of {p}_reply or {p}_classify"
        ));
        a.c(format!(
            "on the query at {p}_qptr{}. A function of its own so that profilers can",
            if self.generate.is_some() {
                " and the context in {p}_ctx"
            } else {
                ""
            }
        ));
        a.c("count its cycles.");
        a.d(format!(".global {p}_text_step"));
        a.d(format!(".type {p}_text_step, @function"));
        a.l(format!("{p}_text_step"));
        push_saved(a);
        let queries: Vec<(usize, &TextInput)> = self
            .plan
            .text
            .iter()
            .enumerate()
            .filter(|(_, t)| t.query)
            .collect();
        if self.plan.cache {
            a.i(format!("lds r16, {}", self.var("newq")));
            a.i("tst r16");
            a.i("brne .Lts_newq");
            a.i("rjmp .Lts_cached");
            a.l(".Lts_newq");
        }
        a.c("Layer 1: biases, then the query's buckets.");
        self.init_layer(a, 0, "text");
        for (i, t) in &queries {
            a.i(format!("lds r28, {}", self.var("qptr")));
            a.i(format!("lds r29, {}+1", self.var("qptr")));
            a.i("rcall .Lqbegin");
            a.l(format!(".Lts_q{i}"));
            self.count_mode(a, t.buckets);
            a.i("rcall .Lqchunk");
            a.i("clr r16");
            a.i("bld r16, 0");
            a.i("push r16");
            self.walk_counts(a, t, &format!("q{i}"));
            a.i("pop r16");
            a.i("tst r16");
            a.i("breq 1f");
            a.i(format!("rjmp .Lts_q{i}"));
            a.l("1");
        }
        let acc0 = self.layers[0].rows() * self.layers[0].acc_bytes();
        if self.plan.cache {
            a.c("Keep the sums for the rest of the reply.");
            ptr(a, "r26", "r27", &self.buf(0));
            ptr(a, "r28", "r29", &self.var("cache"));
            self.copy(a, acc0, ".Lts_keep");
            a.i(format!("sts {}, r1", self.var("newq")));
            a.i("rjmp .Lts_ctx");
            a.l(".Lts_cached");
            ptr(a, "r26", "r27", &self.var("cache"));
            ptr(a, "r28", "r29", &self.buf(0));
            self.copy(a, acc0, ".Lts_load");
            a.l(".Lts_ctx");
        }
        if self.generate.is_some() && self.plan.ctx_len > 0 {
            for (i, t) in self.plan.text.iter().enumerate().filter(|(_, t)| !t.query) {
                a.c("The context's buckets.");
                self.count_mode(a, t.buckets);
                ptr(a, "r28", "r29", &self.var("ctx"));
                count(a, self.plan.ctx_len);
                a.i("rcall .Lchash");
                self.walk_counts(a, t, &format!("c{i}"));
            }
        }
        a.i("rcall .Lrest");
        self.restore_rampz(a);
        pop_saved(a);
        a.i("ret");
        a.d(format!(".size {p}_text_step, .-{p}_text_step"));
    }

    /// Copy `n` bytes from X to Y.
    fn copy(&self, a: &mut Asm, n: usize, label: &str) {
        if n == 0 {
            return;
        }
        count(a, n);
        a.l(label);
        let start = a.code_bytes;
        a.i("ld r0, X+");
        a.i("st Y+, r0");
        loop_end(a, label, start);
    }

    /// `NAME_encode(query, context, input)`.
    fn encode_api(&self, a: &mut Asm) {
        let p = self.p;
        a.blank();
        a.c(format!(
            "void {p}_encode(const char *query, const char *context, int16_t *input)"
        ));
        a.d(format!(".global {p}_encode"));
        a.d(format!(".type {p}_encode, @function"));
        a.l(format!("{p}_encode"));
        push_saved(a);
        a.i("movw r2, r24");
        a.i("movw r4, r22");
        a.i("movw r14, r20");
        if self.inputs > 0 {
            a.i("movw r26, r20");
            count(a, self.inputs);
            a.l(".Lenc_clear");
            a.i("st X+, r1");
            a.i("st X+, r1");
            a.i("sbiw r24, 1");
            a.i("brne .Lenc_clear");
        }
        for (i, t) in self.plan.text.iter().enumerate() {
            // Dense mode: add the value to input[first + h].
            a.i(format!("ldi r16, {}", t.buckets - 1));
            a.i("mov r6, r16");
            a.i("clr r7");
            a.i("inc r7");
            a.i("movw r8, r14");
            let off = 2 * t.first as u32;
            if off > 0 {
                a.i(format!("ldi r16, {}", lo(off)));
                a.i("add r8, r16");
                a.i(format!("ldi r16, {}", hi(off)));
                a.i("adc r9, r16");
            }
            let v = t.value as u16 as u32;
            a.i(format!("ldi r16, {}", lo(v)));
            a.i("mov r10, r16");
            a.i(format!("ldi r16, {}", hi(v)));
            a.i("mov r11, r16");
            if t.query {
                a.i("movw r28, r2");
                a.i("rcall .Lqbegin");
                a.l(format!(".Lenc_q{i}"));
                a.i("rcall .Lqchunk");
                a.i(format!("brts .Lenc_q{i}"));
            } else {
                // The context's length, NULL counting as "".
                a.i("movw r28, r4");
                a.i("clr r24");
                a.i("clr r25");
                a.i("cp r28, r1");
                a.i("cpc r29, r1");
                a.i(format!("breq .Lenc_c{i}"));
                a.i("movw r30, r28");
                a.l(format!(".Lenc_len{i}"));
                a.i("ld r0, Z+");
                a.i("tst r0");
                a.i(format!("breq .Lenc_c{i}"));
                a.i("adiw r24, 1");
                a.i(format!("rjmp .Lenc_len{i}"));
                a.l(format!(".Lenc_c{i}"));
                a.i("rcall .Lchash");
            }
        }
        pop_saved(a);
        a.i("ret");
        a.d(format!(".size {p}_encode, .-{p}_encode"));
    }

    /// `NAME_reply(query, reply, cap)`.
    fn reply_api(&self, a: &mut Asm, eos: usize, max_length: usize) {
        let p = self.p;
        let max = max_length.min(0xFFFF) as u32;
        let l = self.plan.ctx_len;
        a.blank();
        a.c(format!(
            "size_t {p}_reply(const char *query, char *reply, size_t cap)"
        ));
        a.d(format!(".global {p}_reply"));
        a.d(format!(".type {p}_reply, @function"));
        a.l(format!("{p}_reply"));
        push_saved(a);
        a.i(format!("sts {}, r24", self.var("qptr")));
        a.i(format!("sts {}+1, r25", self.var("qptr")));
        a.i("movw r28, r22");
        a.i("movw r14, r20");
        a.i("clr r12");
        a.i("clr r13");
        a.i("cp r14, r1");
        a.i("cpc r15, r1");
        a.i("brne .Lr_go");
        a.i("rjmp .Lr_ret");
        a.l(".Lr_go");
        if l > 0 {
            a.c("The context starts as spaces.");
            ptr(a, "r26", "r27", &self.var("ctx"));
            a.i("ldi r16, 0x20");
            a.i(format!("ldi r17, {l}"));
            a.l(".Lr_sp");
            a.i("st X+, r16");
            a.i("dec r17");
            a.i("brne .Lr_sp");
        }
        if self.plan.cache {
            a.i("ldi r16, 1");
            a.i(format!("sts {}, r16", self.var("newq")));
        }
        a.l(".Lr_loop");
        a.i(format!("ldi r16, {}", lo(max)));
        a.i(format!("ldi r17, {}", hi(max)));
        a.i("cp r12, r16");
        a.i("cpc r13, r17");
        a.i("breq .Lr_done");
        a.i("movw r16, r12");
        a.i("subi r16, 0xFF");
        a.i("sbci r17, 0xFF");
        a.i("cp r16, r14");
        a.i("cpc r17, r15");
        a.i("brsh .Lr_done");
        a.i(format!("rcall {p}_text_step"));
        a.i(format!("cpi r24, {}", lo(eos as u32)));
        a.i(format!("ldi r16, {}", hi(eos as u32)));
        a.i("cpc r25, r16");
        a.i("breq .Lr_done");
        self.load_z(a, &format!("{p}_charset"));
        a.i("add r30, r24");
        a.i("adc r31, r25");
        self.z_carry(a);
        a.i(format!("{} r16, Z", self.lpm()));
        a.i("st Y+, r16");
        a.i("ldi r17, 1");
        a.i("add r12, r17");
        a.i("adc r13, r1");
        if l > 0 {
            a.c("Slide the context left; the new byte, lower-cased, goes last.");
            lower_r16(a, ".Lr_low");
            ptr(a, "r26", "r27", &self.var("ctx"));
            if l > 1 {
                ptr(a, "r30", "r31", &format!("{}+1", self.var("ctx")));
                a.i(format!("ldi r17, {}", l - 1));
                a.l(".Lr_slide");
                a.i("ld r0, Z+");
                a.i("st X+, r0");
                a.i("dec r17");
                a.i("brne .Lr_slide");
            }
            a.i("st X, r16");
        }
        a.i("rjmp .Lr_loop");
        a.l(".Lr_done");
        a.i("st Y, r1");
        a.l(".Lr_ret");
        a.i("movw r24, r12");
        self.restore_rampz(a);
        pop_saved(a);
        a.i("ret");
        a.d(format!(".size {p}_reply, .-{p}_reply"));
    }

    /// `NAME_classify(text)` and `NAME_label(cls)`.
    fn classify_api(&self, a: &mut Asm) {
        let p = self.p;
        let classes = self.layers.last().map(Layer::rows).unwrap_or(0) as u32;
        if self.text_api {
            a.blank();
            a.c(format!("uint16_t {p}_classify(const char *text)"));
            a.d(format!(".global {p}_classify"));
            a.d(format!(".type {p}_classify, @function"));
            a.l(format!("{p}_classify"));
            a.i(format!("sts {}, r24", self.var("qptr")));
            a.i(format!("sts {}+1, r25", self.var("qptr")));
            a.i(format!("rjmp {p}_text_step"));
            a.d(format!(".size {p}_classify, .-{p}_classify"));
        }
        a.blank();
        a.c(format!(
            "const char *{p}_label(uint16_t cls): copied from flash into {p}_labelbuf"
        ));
        a.d(format!(".global {p}_label"));
        a.d(format!(".type {p}_label, @function"));
        a.l(format!("{p}_label"));
        a.i(format!("cpi r24, {}", lo(classes)));
        a.i(format!("ldi r18, {}", hi(classes)));
        a.i("cpc r25, r18");
        a.i("brlo .Llabel_ok");
        a.i("clr r24");
        a.i("clr r25");
        a.i("ret");
        a.l(".Llabel_ok");
        self.load_z(a, &format!("{p}_label_at"));
        a.i("lsl r24");
        a.i("rol r25");
        a.i("add r30, r24");
        a.i("adc r31, r25");
        self.z_carry(a);
        a.i(format!("{} r18, Z+", self.lpm()));
        a.i(format!("{} r19, Z", self.lpm()));
        self.load_z(a, &format!("{p}_label_text"));
        a.i("add r30, r18");
        a.i("adc r31, r19");
        self.z_carry(a);
        ptr(a, "r26", "r27", &self.var("labelbuf"));
        a.l(".Llabel_copy");
        a.i(format!("{} r0, Z+", self.lpm()));
        a.i("st X+, r0");
        a.i("tst r0");
        a.i("brne .Llabel_copy");
        ptr(a, "r24", "r25", &self.var("labelbuf"));
        self.restore_rampz(a);
        a.i("ret");
        a.d(format!(".size {p}_label, .-{p}_label"));
    }

    /// All the code, in `.text`.
    pub fn code(&self, a: &mut Asm) {
        a.d(".text");
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
        if !self.plan.text.is_empty() {
            self.hashing(a);
        }
        a.blank();
        self.run_dense(a);
        a.blank();
        self.rest(a);
        a.blank();
        super::kernels::kernels(
            a,
            &super::plan::kernels_used(self.layers, self.plan),
            self.lpm(),
        );
    }
}
