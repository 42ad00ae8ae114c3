//! The C API entry points: `NAME_step` and `NAME_predict`, `NAME_encode`,
//! `NAME_reply`, `NAME_classify` and `NAME_label`, and the text step they share.

use crate::avr::buffer::Buffer;
use crate::avr::build::{at, dec, hex, hi, lo};
use crate::avr::inst::Ptr::{XInc, YInc, ZInc, X, Y};
use crate::avr::inst::{
    Dest, R0, R1, R10, R11, R12, R13, R14, R15, R16, R17, R18, R19, R2, R20, R22, R23, R24, R25,
    R26, R27, R28, R29, R30, R31, R4, R6, R7, R8, R9,
};
use crate::lowered::FusedLayer;
use crate::lowered::InputPart;

use super::{count, end, loop_end, lower_r16, pop_saved, ptr, push_saved, Gen};

impl Gen<'_> {
    /// `NAME_step`, `NAME_predict`.
    pub(super) fn dense_api(&self, a: &mut Buffer) {
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
        self.run_front(a);
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
        self.run_front(a);
        a.rcall(".Lrun_dense");
        self.restore_rampz(a);
        pop_saved(a);
        a.ret();
        end(a, p, "predict");
    }

    /// The conv and pool layers, if the model has any, on the input at X.
    fn run_front(&self, a: &mut Buffer) {
        if !self.front.is_empty() {
            a.rcall(".Lfront");
        }
    }

    /// `NAME_text_step`: one inference step on the query at `NAME_qptr` and
    /// (generators) the context in `NAME_ctx`; the class in r24:r25.
    pub(super) fn text_step(&self, a: &mut Buffer) {
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
    pub(super) fn encode_api(&self, a: &mut Buffer) {
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
    pub(super) fn reply_api(&self, a: &mut Buffer, eos: usize, max_length: usize) {
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
    pub(super) fn classify_api(&self, a: &mut Buffer) {
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
}
