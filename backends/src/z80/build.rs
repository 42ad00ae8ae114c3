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
    pub fn i(&mut self, inst: Inst) {
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

    /// `ld r,s`.
    pub fn ld(&mut self, r: Reg8, s: impl Into<Src8>) {
        self.i(Inst::Ld(r, s.into()));
    }

    /// `ld (hl),r` / `ld (ix+d),r`.
    pub fn st(&mut self, m: impl Into<Mem8>, r: Reg8) {
        self.i(Inst::St(m.into(), r));
    }

    /// `ld (hl),n` / `ld (ix+d),n`.
    pub fn st_imm(&mut self, m: impl Into<Mem8>, n: impl Into<Expr>) {
        self.i(Inst::StImm(m.into(), n.into()));
    }

    /// `ld a,(bc)` / `ld a,(de)`.
    pub fn ld_a_ptr(&mut self, p: BcDe) {
        self.i(Inst::LdAPtr(p));
    }

    /// `ld (bc),a` / `ld (de),a`.
    pub fn ld_ptr_a(&mut self, p: BcDe) {
        self.i(Inst::LdPtrA(p));
    }

    /// `ld a,(nn)`.
    pub fn ld_a_mem(&mut self, at: impl Into<Expr>) {
        self.i(Inst::LdAMem(at.into()));
    }

    /// `ld (nn),a`.
    pub fn ld_mem_a(&mut self, at: impl Into<Expr>) {
        self.i(Inst::LdMemA(at.into()));
    }

    /// `ld rr,nn`.
    pub fn ld16(&mut self, r: Reg16, n: impl Into<Expr>) {
        self.i(Inst::Ld16(r, n.into()));
    }

    /// `ld rr,(nn)`.
    pub fn ld16_mem(&mut self, r: Reg16, at: impl Into<Expr>) {
        self.i(Inst::Ld16Mem(r, at.into()));
    }

    /// `ld (nn),rr`.
    pub fn st16_mem(&mut self, at: impl Into<Expr>, r: Reg16) {
        self.i(Inst::St16Mem(at.into(), r));
    }

    /// `ld sp,hl` / `ld sp,ix` / `ld sp,iy`.
    pub fn ld_sp(&mut self, r: HlIx) {
        self.i(Inst::LdSp(r));
    }

    /// `push rr`.
    pub fn push(&mut self, r: StackReg) {
        self.i(Inst::Push(r));
    }

    /// `pop rr`.
    pub fn pop(&mut self, r: StackReg) {
        self.i(Inst::Pop(r));
    }

    /// An 8-bit operation with A: `add a,s`, `sub s`, `or s`, ...
    pub fn alu(&mut self, op: AluOp, s: impl Into<Src8>) {
        self.i(Inst::Alu(op, s.into()));
    }

    /// `inc r` / `inc (hl)` / `inc (ix+d)`.
    pub fn inc(&mut self, l: impl Into<Loc8>) {
        self.i(Inst::Inc(l.into()));
    }

    /// `dec r` / `dec (hl)` / `dec (ix+d)`.
    pub fn dec(&mut self, l: impl Into<Loc8>) {
        self.i(Inst::Dec(l.into()));
    }

    /// `inc rr`.
    pub fn inc16(&mut self, r: Reg16) {
        self.i(Inst::Inc16(r));
    }

    /// `dec rr`.
    pub fn dec16(&mut self, r: Reg16) {
        self.i(Inst::Dec16(r));
    }

    /// `add hl,rr`.
    pub fn add_hl(&mut self, p: Pair) {
        self.i(Inst::AddHl(p));
    }

    /// `add ix,rr` / `add iy,rr`.
    pub fn add_idx(&mut self, x: Index, p: Pair) {
        self.i(Inst::AddIdx(x, p));
    }

    /// A CB-prefixed rotate or shift.
    pub fn rot(&mut self, op: RotOp, l: impl Into<Loc8>) {
        self.i(Inst::Rot(op, l.into()));
    }

    /// `jp nn`.
    pub fn jp(&mut self, to: impl Into<Expr>) {
        self.i(Inst::Jp(to.into()));
    }

    /// `jp cc,nn`.
    pub fn jp_cc(&mut self, c: Cond, to: impl Into<Expr>) {
        self.i(Inst::JpCc(c, to.into()));
    }

    /// `jp (hl)` / `jp (ix)` / `jp (iy)`.
    pub fn jp_ind(&mut self, r: HlIx) {
        self.i(Inst::JpInd(r));
    }

    /// `jr e`.
    pub fn jr(&mut self, to: impl Into<Expr>) {
        self.i(Inst::Jr(to.into()));
    }

    /// `jr cc,e`.
    pub fn jr_cc(&mut self, c: JrCond, to: impl Into<Expr>) {
        self.i(Inst::JrCc(c, to.into()));
    }

    /// `djnz e`.
    pub fn djnz(&mut self, to: impl Into<Expr>) {
        self.i(Inst::Djnz(to.into()));
    }

    /// `call nn`.
    pub fn call(&mut self, to: impl Into<Expr>) {
        self.i(Inst::Call(to.into()));
    }

    /// `call cc,nn`.
    pub fn call_cc(&mut self, c: Cond, to: impl Into<Expr>) {
        self.i(Inst::CallCc(c, to.into()));
    }

    /// `ret`.
    pub fn ret(&mut self) {
        self.i(Inst::Ret);
    }

    /// `ret cc`.
    pub fn ret_cc(&mut self, c: Cond) {
        self.i(Inst::RetCc(c));
    }
}
