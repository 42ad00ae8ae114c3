//! A small builder over [`Item`]s, so the generator writes typed instructions
//! (`b.ld(Reg8::A, 1)`, `b.jp_cc(Cond::PO, "ms_wasdi")`) and never assembly text.
//!
//! Operands take anything that converts into the operand type: a number or a
//! symbol name becomes an [`Expr`], a register or `(ix+d)` an 8-bit operand.

use super::asm::{Data, Item};
use super::expr::Expr;
use super::isa::{
    AluOp, BcDe, Cond, HlIx, Index, Inst, JrCond, Loc8, Mem8, Pair, Reg16, Reg8, RotOp, Src8,
    StackReg,
};

/// Builder methods that push one instruction, each operand converted with `Into`.
macro_rules! insts {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) => $variant:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self, $($arg: impl Into<$ty>),*) {
                self.inst(Inst::$variant($($arg.into()),*));
            }
        )*
    };
}

/// An item list under construction.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    items: Vec<Item>,
}

impl Builder {
    /// An empty list.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The items built so far.
    pub fn finish(self) -> Vec<Item> {
        self.items
    }

    /// Append ready-made items (e.g. a parsed runtime source).
    pub fn extend(&mut self, items: impl IntoIterator<Item = Item>) {
        self.items.extend(items);
    }

    /// Any instruction.
    pub fn inst(&mut self, inst: Inst) {
        self.items.push(Item::Inst(inst));
    }

    /// `name:`.
    pub fn label(&mut self, name: impl Into<String>) {
        self.items.push(Item::Label(name.into()));
    }

    /// `name: equ value`.
    pub fn equ(&mut self, name: impl Into<String>, value: impl Into<Expr>) {
        self.items.push(Item::Equ(name.into(), value.into()));
    }

    /// `org address`.
    pub fn org(&mut self, address: impl Into<Expr>) {
        self.items.push(Item::Org(address.into()));
    }

    /// `; text` on a line of its own.
    pub fn comment(&mut self, text: impl Into<String>) {
        self.items.push(Item::Comment(text.into()));
    }

    /// `db` of numeric bytes.
    pub fn db(&mut self, bytes: impl IntoIterator<Item = impl Into<Expr>>) {
        let data = bytes.into_iter().map(|b| Data::Byte(b.into())).collect();
        self.items.push(Item::Db(data));
    }

    /// `db` lines of `per_line` bytes each.
    pub fn db_lines(&mut self, bytes: &[u8], per_line: usize) {
        for chunk in bytes.chunks(per_line) {
            self.db(chunk.iter().copied());
        }
    }

    /// `dw` of words.
    pub fn dw(&mut self, words: impl IntoIterator<Item = impl Into<Expr>>) {
        let words = words.into_iter().map(Into::into).collect();
        self.items.push(Item::Dw(words));
    }

    insts! {
        /// `ld r,s`.
        ld(r: Reg8, s: Src8) => Ld;
        /// `ld (hl),r` / `ld (ix+d),r`.
        st(m: Mem8, r: Reg8) => St;
        /// `ld (hl),n` / `ld (ix+d),n`.
        st_imm(m: Mem8, n: Expr) => StImm;
        /// `ld a,(bc)` / `ld a,(de)`.
        ld_a_ptr(p: BcDe) => LdAPtr;
        /// `ld (bc),a` / `ld (de),a`.
        ld_ptr_a(p: BcDe) => LdPtrA;
        /// `ld a,(nn)`.
        ld_a_mem(at: Expr) => LdAMem;
        /// `ld (nn),a`.
        ld_mem_a(at: Expr) => LdMemA;
        /// `ld rr,nn`.
        ld16(r: Reg16, n: Expr) => Ld16;
        /// `ld rr,(nn)`.
        ld16_mem(r: Reg16, at: Expr) => Ld16Mem;
        /// `ld (nn),rr`.
        st16_mem(at: Expr, r: Reg16) => St16Mem;
        /// `ld sp,hl` / `ld sp,ix` / `ld sp,iy`.
        ld_sp(r: HlIx) => LdSp;
        /// `push rr`.
        push(r: StackReg) => Push;
        /// `pop rr`.
        pop(r: StackReg) => Pop;
        /// An 8-bit operation with A: `add a,s`, `sub s`, `or s`, ...
        alu(op: AluOp, s: Src8) => Alu;
        /// `inc r` / `inc (hl)` / `inc (ix+d)`.
        inc(l: Loc8) => Inc;
        /// `dec r` / `dec (hl)` / `dec (ix+d)`.
        dec(l: Loc8) => Dec;
        /// `inc rr`.
        inc16(r: Reg16) => Inc16;
        /// `dec rr`.
        dec16(r: Reg16) => Dec16;
        /// `add hl,rr`.
        add_hl(p: Pair) => AddHl;
        /// `add ix,rr` / `add iy,rr`.
        add_idx(x: Index, p: Pair) => AddIdx;
        /// A CB-prefixed rotate or shift.
        rot(op: RotOp, l: Loc8) => Rot;
        /// `jp nn`.
        jp(to: Expr) => Jp;
        /// `jp cc,nn`.
        jp_cc(c: Cond, to: Expr) => JpCc;
        /// `jp (hl)` / `jp (ix)` / `jp (iy)`.
        jp_ind(r: HlIx) => JpInd;
        /// `jr e`.
        jr(to: Expr) => Jr;
        /// `jr cc,e`.
        jr_cc(c: JrCond, to: Expr) => JrCc;
        /// `djnz e`.
        djnz(to: Expr) => Djnz;
        /// `call nn`.
        call(to: Expr) => Call;
        /// `call cc,nn`.
        call_cc(c: Cond, to: Expr) => CallCc;
    }

    /// `ret`.
    pub fn ret(&mut self) {
        self.inst(Inst::Ret);
    }

    /// `ret cc`.
    pub fn ret_cc(&mut self, c: Cond) {
        self.inst(Inst::RetCc(c));
    }
}
