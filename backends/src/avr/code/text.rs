//! The text encoders' hashing: query trigrams in chunks and context n-grams,
//! each hash counted into or added from its bucket.

use crate::avr::buffer::Buffer;
use crate::avr::build::{at, dec, hex};
use crate::avr::inst::Ptr::{XInc, YInc, ZInc, X, Y};
use crate::avr::inst::{
    Reg, Sym, R0, R1, R10, R11, R16, R17, R22, R23, R24, R25, R26, R27, R28, R29, R30, R6, R7, R8,
};

use super::{lower_r16, ptr, Gen};

/// r17 = r16 * 31 (mod 256): r16 * 32 - r16.
fn times31(a: &mut Buffer) {
    a.mov(R17, R16);
    a.swap(R17);
    a.andi(R17, hex(0xF0));
    a.lsl(R17);
    a.sub(R17, R16);
}

impl Gen<'_> {
    /// Hashing: `.Lhit`, `.Lqbegin`, `.Lqchunk`, `.Lchash`.
    pub(super) fn hashing(&self, a: &mut Buffer) {
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
    pub(super) fn count_mode(&self, a: &mut Buffer, buckets: usize) {
        a.ldi(R16, dec(buckets - 1));
        a.mov(R6, R16);
        a.clr(R7);
        ptr(a, R16, R17, self.var("cnt"));
        a.movw(R8, R16);
    }
}
