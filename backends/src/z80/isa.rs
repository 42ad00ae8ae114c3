//! The Z80 instruction set as types: registers, operands, [`Inst`], and for every
//! instruction its size, its T-states and its encoding.
//!
//! Operand types only admit the combinations the CPU has, so a code generator cannot
//! build `ld (hl),(ix+1)`; values that need symbols are [`Expr`]s checked at encoding.

use super::expr::{EvalError, Expr, Symbols};
use super::mnemonics::*;
use std::fmt;

/// An 8-bit register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reg8 {
    A,
    B,
    C,
    D,
    E,
    H,
    L,
}

/// A 16-bit register usable with `ld rr,nn`, `ld rr,(nn)`, `ld (nn),rr`, `inc rr`, `dec rr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reg16 {
    BC,
    DE,
    HL,
    SP,
    IX,
    IY,
}

/// The operand of `add hl,_`, `adc hl,_`, `sbc hl,_` and `add ix,_`.
///
/// With `add ix,_`/`add iy,_`, `HL` stands for the index register itself (`add ix,ix`),
/// as it does in the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pair {
    BC,
    DE,
    HL,
    SP,
}

/// A register `push` and `pop` take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StackReg {
    BC,
    DE,
    HL,
    AF,
    IX,
    IY,
}

/// An index register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    IX,
    IY,
}

/// HL or an index register: the operand of `ld sp,_`, `ex (sp),_` and `jp (_)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HlIx {
    HL,
    IX,
    IY,
}

/// The pointer registers of `ld a,(bc)`, `ld (de),a` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BcDe {
    BC,
    DE,
}

/// A condition of `jp`, `call` and `ret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cond {
    NZ,
    Z,
    NC,
    C,
    PO,
    PE,
    P,
    M,
}

/// A condition `jr` can test (only the first four exist for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JrCond {
    NZ,
    Z,
    NC,
    C,
}

/// An 8-bit arithmetic or logic operation with A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Adc,
    Sub,
    Sbc,
    And,
    Xor,
    Or,
    Cp,
}

/// A CB-prefixed rotate or shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotOp {
    Rlc,
    Rrc,
    Rl,
    Rr,
    Sla,
    Sra,
    Srl,
}

/// `(ix+d)` or `(iy+d)`.
///
/// `disp` is normally a number in -128..=127. A symbolic displacement prints as
/// `(ix+e)` and must be 0..=127, or, written `Sub(Num(0), e)` with `e` a single symbol
/// or number, prints as `(ix-e)` and `e` must be 0..=128: pasmo rejects `(ix+e)` when
/// `e` is negative.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Idx {
    /// The index register.
    pub reg: Index,
    /// The signed displacement.
    pub disp: Expr,
}

impl Idx {
    /// `(ix+d)` with a numeric displacement.
    pub fn ix(d: i8) -> Idx {
        Idx {
            reg: Index::IX,
            disp: Expr::from(d),
        }
    }

    /// `(iy+d)` with a numeric displacement.
    pub fn iy(d: i8) -> Idx {
        Idx {
            reg: Index::IY,
            disp: Expr::from(d),
        }
    }
}

/// A read-write 8-bit location: a register, `(hl)` or `(ix+d)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Loc8 {
    /// A register.
    R(Reg8),
    /// `(hl)`.
    Hl,
    /// `(ix+d)` / `(iy+d)`.
    Idx(Idx),
}

/// An 8-bit source: a location or an immediate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Src8 {
    /// A register.
    R(Reg8),
    /// `(hl)`.
    Hl,
    /// `(ix+d)` / `(iy+d)`.
    Idx(Idx),
    /// An immediate byte.
    N(Expr),
}

/// An 8-bit memory destination reached through a register: `(hl)` or `(ix+d)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mem8 {
    /// `(hl)`.
    Hl,
    /// `(ix+d)` / `(iy+d)`.
    Idx(Idx),
}

/// One Z80 instruction. The doc of each variant is its printed form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Inst {
    /// `ld r,s`: r from a register, `(hl)`, `(ix+d)` or an immediate.
    Ld(Reg8, Src8),
    /// `ld (hl),r` / `ld (ix+d),r`.
    St(Mem8, Reg8),
    /// `ld (hl),n` / `ld (ix+d),n`.
    StImm(Mem8, Expr),
    /// `ld a,(bc)` / `ld a,(de)`.
    LdAPtr(BcDe),
    /// `ld (bc),a` / `ld (de),a`.
    LdPtrA(BcDe),
    /// `ld a,(nn)`.
    LdAMem(Expr),
    /// `ld (nn),a`.
    LdMemA(Expr),
    /// `ld a,i`.
    LdAI,
    /// `ld a,r`.
    LdAR,
    /// `ld i,a`.
    LdIA,
    /// `ld r,a`.
    LdRA,
    /// `ld rr,nn`.
    Ld16(Reg16, Expr),
    /// `ld rr,(nn)`.
    Ld16Mem(Reg16, Expr),
    /// `ld (nn),rr`.
    St16Mem(Expr, Reg16),
    /// `ld sp,hl` / `ld sp,ix` / `ld sp,iy`.
    LdSp(HlIx),
    /// `push rr`.
    Push(StackReg),
    /// `pop rr`.
    Pop(StackReg),
    /// `ex de,hl`.
    ExDeHl,
    /// `ex af,af'`.
    ExAf,
    /// `exx`.
    Exx,
    /// `ex (sp),hl` / `ex (sp),ix` / `ex (sp),iy`.
    ExSp(HlIx),
    /// `add a,s` `adc a,s` `sub s` `sbc a,s` `and s` `xor s` `or s` `cp s`.
    Alu(AluOp, Src8),
    /// `inc r` / `inc (hl)` / `inc (ix+d)`.
    Inc(Loc8),
    /// `dec r` / `dec (hl)` / `dec (ix+d)`.
    Dec(Loc8),
    /// `inc rr`.
    Inc16(Reg16),
    /// `dec rr`.
    Dec16(Reg16),
    /// `add hl,rr`.
    AddHl(Pair),
    /// `adc hl,rr`.
    AdcHl(Pair),
    /// `sbc hl,rr`.
    SbcHl(Pair),
    /// `add ix,rr` (`Pair::HL` prints as the index register itself).
    AddIdx(Index, Pair),
    /// `daa`.
    Daa,
    /// `cpl`.
    Cpl,
    /// `neg`.
    Neg,
    /// `ccf`.
    Ccf,
    /// `scf`.
    Scf,
    /// `rlca`.
    Rlca,
    /// `rrca`.
    Rrca,
    /// `rla`.
    Rla,
    /// `rra`.
    Rra,
    /// `rld`.
    Rld,
    /// `rrd`.
    Rrd,
    /// `rlc x` `rrc x` `rl x` `rr x` `sla x` `sra x` `srl x`.
    Rot(RotOp, Loc8),
    /// `bit b,x` (b in 0..=7).
    Bit(u8, Loc8),
    /// `set b,x`.
    Set(u8, Loc8),
    /// `res b,x`.
    Res(u8, Loc8),
    /// `jp nn`.
    Jp(Expr),
    /// `jp cc,nn`.
    JpCc(Cond, Expr),
    /// `jp (hl)` / `jp (ix)` / `jp (iy)`.
    JpInd(HlIx),
    /// `jr e` (the operand is the target address).
    Jr(Expr),
    /// `jr cc,e`.
    JrCc(JrCond, Expr),
    /// `djnz e`.
    Djnz(Expr),
    /// `call nn`.
    Call(Expr),
    /// `call cc,nn`.
    CallCc(Cond, Expr),
    /// `ret`.
    Ret,
    /// `ret cc`.
    RetCc(Cond),
    /// `reti`.
    Reti,
    /// `retn`.
    Retn,
    /// `rst p` (p in 0x00, 0x08, ..., 0x38).
    Rst(u8),
    /// `ldi`.
    Ldi,
    /// `ldir`.
    Ldir,
    /// `ldd`.
    Ldd,
    /// `lddr`.
    Lddr,
    /// `cpi`.
    Cpi,
    /// `cpir`.
    Cpir,
    /// `cpd`.
    Cpd,
    /// `cpdr`.
    Cpdr,
    /// `nop`.
    Nop,
    /// `halt`.
    Halt,
    /// `di`.
    Di,
    /// `ei`.
    Ei,
    /// `im m` (m in 0..=2).
    Im(u8),
    /// `in a,(n)`.
    InA(Expr),
    /// `out (n),a`.
    OutA(Expr),
    /// `in r,(c)`.
    InC(Reg8),
    /// `out (c),r`.
    OutC(Reg8),
}

/// Clock cycles of an instruction: `taken` when a conditional branch is taken or a
/// repeating block instruction goes round again, `not_taken` otherwise; equal for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tstates {
    /// Branch taken / block instruction repeats.
    pub taken: u8,
    /// Branch not taken / block instruction finishes.
    pub not_taken: u8,
}

impl Tstates {
    /// An instruction whose timing never varies.
    pub const fn fixed(t: u8) -> Tstates {
        Tstates {
            taken: t,
            not_taken: t,
        }
    }

    /// Timing that depends on a condition.
    pub const fn cond(taken: u8, not_taken: u8) -> Tstates {
        Tstates { taken, not_taken }
    }
}

/// Why an instruction cannot be encoded with the given symbols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// An operand refers to an undefined symbol.
    Undefined(String),
    /// An operand whose printed form one of the assemblers would misread or warn about.
    Unportable(&'static str),
    /// An operand's value does not fit where it goes.
    Range {
        /// What the value is, e.g. "jr displacement".
        what: &'static str,
        /// The offending value.
        value: i64,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Undefined(n) => write!(f, "undefined symbol `{n}`"),
            EncodeError::Range { what, value } => write!(f, "{what} {value} out of range"),
            EncodeError::Unportable(why) => f.write_str(why),
        }
    }
}

impl From<EvalError> for EncodeError {
    fn from(e: EvalError) -> EncodeError {
        match e {
            EvalError::Undefined(n) => EncodeError::Undefined(n),
        }
    }
}

impl Reg8 {
    /// Every 8-bit register, in encoding order (A, code 7, last).
    pub const ALL: [Reg8; 7] = [
        Reg8::B,
        Reg8::C,
        Reg8::D,
        Reg8::E,
        Reg8::H,
        Reg8::L,
        Reg8::A,
    ];

    /// The 3-bit field of the encoding ((hl) takes 6).
    pub fn code(self) -> u8 {
        match self {
            Reg8::B => 0,
            Reg8::C => 1,
            Reg8::D => 2,
            Reg8::E => 3,
            Reg8::H => 4,
            Reg8::L => 5,
            Reg8::A => 7,
        }
    }

    /// The assembler name.
    pub fn name(self) -> &'static str {
        ["b", "c", "d", "e", "h", "l", "", "a"][self.code() as usize]
    }
}

impl Reg16 {
    /// Every register of this set.
    pub const ALL: [Reg16; 6] = [
        Reg16::BC,
        Reg16::DE,
        Reg16::HL,
        Reg16::SP,
        Reg16::IX,
        Reg16::IY,
    ];

    /// The assembler name.
    pub fn name(self) -> &'static str {
        match self {
            Reg16::BC => "bc",
            Reg16::DE => "de",
            Reg16::HL => "hl",
            Reg16::SP => "sp",
            Reg16::IX => "ix",
            Reg16::IY => "iy",
        }
    }

    /// The index prefix and the pair code (HL's) an IX/IY form uses.
    fn split(self) -> (Option<u8>, u8) {
        match self {
            Reg16::BC => (None, 0),
            Reg16::DE => (None, 1),
            Reg16::HL => (None, 2),
            Reg16::SP => (None, 3),
            Reg16::IX => (Some(0xDD), 2),
            Reg16::IY => (Some(0xFD), 2),
        }
    }
}

impl Pair {
    /// Every register of this set.
    pub const ALL: [Pair; 4] = [Pair::BC, Pair::DE, Pair::HL, Pair::SP];

    /// The 2-bit field of the encoding.
    pub fn code(self) -> u8 {
        match self {
            Pair::BC => 0,
            Pair::DE => 1,
            Pair::HL => 2,
            Pair::SP => 3,
        }
    }

    /// The assembler name.
    pub fn name(self) -> &'static str {
        ["bc", "de", "hl", "sp"][self.code() as usize]
    }
}

impl StackReg {
    /// Every register of this set.
    pub const ALL: [StackReg; 6] = [
        StackReg::BC,
        StackReg::DE,
        StackReg::HL,
        StackReg::AF,
        StackReg::IX,
        StackReg::IY,
    ];

    /// The assembler name.
    pub fn name(self) -> &'static str {
        match self {
            StackReg::BC => "bc",
            StackReg::DE => "de",
            StackReg::HL => "hl",
            StackReg::AF => "af",
            StackReg::IX => "ix",
            StackReg::IY => "iy",
        }
    }

    fn split(self) -> (Option<u8>, u8) {
        match self {
            StackReg::BC => (None, 0),
            StackReg::DE => (None, 1),
            StackReg::HL => (None, 2),
            StackReg::AF => (None, 3),
            StackReg::IX => (Some(0xDD), 2),
            StackReg::IY => (Some(0xFD), 2),
        }
    }
}

impl Index {
    /// Both index registers.
    pub const ALL: [Index; 2] = [Index::IX, Index::IY];

    /// The opcode prefix that selects this register in place of HL.
    pub fn prefix(self) -> u8 {
        match self {
            Index::IX => 0xDD,
            Index::IY => 0xFD,
        }
    }

    /// The assembler name.
    pub fn name(self) -> &'static str {
        match self {
            Index::IX => "ix",
            Index::IY => "iy",
        }
    }
}

impl HlIx {
    /// Every register of this set.
    pub const ALL: [HlIx; 3] = [HlIx::HL, HlIx::IX, HlIx::IY];

    /// The assembler name.
    pub fn name(self) -> &'static str {
        match self {
            HlIx::HL => "hl",
            HlIx::IX => "ix",
            HlIx::IY => "iy",
        }
    }

    fn prefix(self) -> Option<u8> {
        match self {
            HlIx::HL => None,
            HlIx::IX => Some(0xDD),
            HlIx::IY => Some(0xFD),
        }
    }
}

impl BcDe {
    /// Both registers.
    pub const ALL: [BcDe; 2] = [BcDe::BC, BcDe::DE];

    /// The assembler name.
    pub fn name(self) -> &'static str {
        match self {
            BcDe::BC => "bc",
            BcDe::DE => "de",
        }
    }
}

impl Cond {
    /// Every condition, in encoding order.
    pub const ALL: [Cond; 8] = [
        Cond::NZ,
        Cond::Z,
        Cond::NC,
        Cond::C,
        Cond::PO,
        Cond::PE,
        Cond::P,
        Cond::M,
    ];

    /// The 3-bit field of the encoding.
    pub fn code(self) -> u8 {
        Cond::ALL.iter().position(|c| *c == self).unwrap_or(0) as u8
    }

    /// The assembler name.
    pub fn name(self) -> &'static str {
        ["nz", "z", "nc", "c", "po", "pe", "p", "m"][self.code() as usize]
    }
}

impl JrCond {
    /// Every condition, in encoding order.
    pub const ALL: [JrCond; 4] = [JrCond::NZ, JrCond::Z, JrCond::NC, JrCond::C];

    /// The 2-bit field of the encoding.
    pub fn code(self) -> u8 {
        match self {
            JrCond::NZ => 0,
            JrCond::Z => 1,
            JrCond::NC => 2,
            JrCond::C => 3,
        }
    }

    /// The assembler name.
    pub fn name(self) -> &'static str {
        ["nz", "z", "nc", "c"][self.code() as usize]
    }
}

impl From<JrCond> for Cond {
    fn from(c: JrCond) -> Cond {
        Cond::ALL[c.code() as usize]
    }
}

impl AluOp {
    /// Every operation, in encoding order.
    pub const ALL: [AluOp; 8] = [
        AluOp::Add,
        AluOp::Adc,
        AluOp::Sub,
        AluOp::Sbc,
        AluOp::And,
        AluOp::Xor,
        AluOp::Or,
        AluOp::Cp,
    ];

    /// The 3-bit field of the encoding.
    pub fn code(self) -> u8 {
        AluOp::ALL.iter().position(|c| *c == self).unwrap_or(0) as u8
    }

    /// The mnemonic.
    pub fn name(self) -> &'static str {
        [ADD, ADC, SUB, SBC, AND, XOR, OR, CP][self.code() as usize]
    }

    /// Whether the printed form names A (`add a,b`) or not (`sub b`), the form both
    /// assemblers take.
    pub fn names_a(self) -> bool {
        matches!(self, AluOp::Add | AluOp::Adc | AluOp::Sbc)
    }
}

impl RotOp {
    /// Every operation.
    pub const ALL: [RotOp; 7] = [
        RotOp::Rlc,
        RotOp::Rrc,
        RotOp::Rl,
        RotOp::Rr,
        RotOp::Sla,
        RotOp::Sra,
        RotOp::Srl,
    ];

    /// The 3-bit field of the encoding (6 is the undocumented `sll`, left out).
    pub fn code(self) -> u8 {
        match self {
            RotOp::Rlc => 0,
            RotOp::Rrc => 1,
            RotOp::Rl => 2,
            RotOp::Rr => 3,
            RotOp::Sla => 4,
            RotOp::Sra => 5,
            RotOp::Srl => 7,
        }
    }

    /// The mnemonic.
    pub fn name(self) -> &'static str {
        [RLC, RRC, RL, RR, SLA, SRA, "", SRL][self.code() as usize]
    }
}

impl From<Reg8> for Loc8 {
    fn from(r: Reg8) -> Loc8 {
        Loc8::R(r)
    }
}

impl From<Reg8> for Src8 {
    fn from(r: Reg8) -> Src8 {
        Src8::R(r)
    }
}

impl Inst {
    /// Every instruction without operands.
    pub const BARE: [Inst; 26] = [
        Inst::Exx,
        Inst::Daa,
        Inst::Cpl,
        Inst::Neg,
        Inst::Ccf,
        Inst::Scf,
        Inst::Rlca,
        Inst::Rrca,
        Inst::Rla,
        Inst::Rra,
        Inst::Rld,
        Inst::Rrd,
        Inst::Reti,
        Inst::Retn,
        Inst::Ldi,
        Inst::Ldir,
        Inst::Ldd,
        Inst::Lddr,
        Inst::Cpi,
        Inst::Cpir,
        Inst::Cpd,
        Inst::Cpdr,
        Inst::Nop,
        Inst::Halt,
        Inst::Di,
        Inst::Ei,
    ];

    /// The mnemonic of an instruction without operands, which is all it prints as.
    pub fn bare_mnemonic(&self) -> Option<&'static str> {
        Some(match self {
            Inst::Exx => EXX,
            Inst::Daa => DAA,
            Inst::Cpl => CPL,
            Inst::Neg => NEG,
            Inst::Ccf => CCF,
            Inst::Scf => SCF,
            Inst::Rlca => RLCA,
            Inst::Rrca => RRCA,
            Inst::Rla => RLA,
            Inst::Rra => RRA,
            Inst::Rld => RLD,
            Inst::Rrd => RRD,
            Inst::Reti => RETI,
            Inst::Retn => RETN,
            Inst::Ldi => LDI,
            Inst::Ldir => LDIR,
            Inst::Ldd => LDD,
            Inst::Lddr => LDDR,
            Inst::Cpi => CPI,
            Inst::Cpir => CPIR,
            Inst::Cpd => CPD,
            Inst::Cpdr => CPDR,
            Inst::Nop => NOP,
            Inst::Halt => HALT,
            Inst::Di => DI,
            Inst::Ei => EI,
            _ => return None,
        })
    }
}

/// An immediate 8-bit source from anything that makes an [`Expr`].
macro_rules! immediate_from {
    ($($t:ty),*) => {
        $(
            impl From<$t> for Src8 {
                fn from(n: $t) -> Src8 {
                    Src8::N(Expr::from(n))
                }
            }
        )*
    };
}

immediate_from!(i32, u8, Expr);

impl From<Idx> for Loc8 {
    fn from(i: Idx) -> Loc8 {
        Loc8::Idx(i)
    }
}

impl From<Idx> for Src8 {
    fn from(i: Idx) -> Src8 {
        Src8::Idx(i)
    }
}

impl From<Idx> for Mem8 {
    fn from(i: Idx) -> Mem8 {
        Mem8::Idx(i)
    }
}

impl From<Mem8> for Loc8 {
    fn from(m: Mem8) -> Loc8 {
        match m {
            Mem8::Hl => Loc8::Hl,
            Mem8::Idx(i) => Loc8::Idx(i),
        }
    }
}

/// The prefix, register field and displacement of an 8-bit location.
enum Site<'a> {
    Reg(u8),
    Hl,
    Idx(&'a Idx),
}

impl Loc8 {
    fn site(&self) -> Site<'_> {
        match self {
            Loc8::R(r) => Site::Reg(r.code()),
            Loc8::Hl => Site::Hl,
            Loc8::Idx(i) => Site::Idx(i),
        }
    }
}

impl Mem8 {
    fn site(&self) -> Site<'_> {
        match self {
            Mem8::Hl => Site::Hl,
            Mem8::Idx(i) => Site::Idx(i),
        }
    }
}

/// Output buffer with the operand checks every encoding needs.
struct Enc<'a> {
    out: Vec<u8>,
    here: u16,
    symbols: &'a Symbols,
}

impl Enc<'_> {
    fn op(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn value(&self, e: &Expr) -> Result<i64, EncodeError> {
        Ok(e.eval(self.here, self.symbols)?)
    }

    fn byte(&mut self, e: &Expr, what: &'static str) -> Result<(), EncodeError> {
        let v = self.value(e)?;
        if !(-128..=255).contains(&v) {
            return Err(EncodeError::Range { what, value: v });
        }
        self.out.push(v as u8);
        Ok(())
    }

    fn word(&mut self, e: &Expr, what: &'static str) -> Result<(), EncodeError> {
        let v = self.value(e)?;
        if !(-32768..=65535).contains(&v) {
            return Err(EncodeError::Range { what, value: v });
        }
        self.out.extend_from_slice(&(v as u16).to_le_bytes());
        Ok(())
    }

    fn disp(&mut self, i: &Idx) -> Result<(), EncodeError> {
        let b = disp_byte(i, self.here, self.symbols)?;
        self.out.push(b);
        Ok(())
    }

    fn rel(&mut self, target: &Expr, what: &'static str) -> Result<(), EncodeError> {
        let d = self.value(target)? - (i64::from(self.here) + 2);
        if !(-128..=127).contains(&d) {
            return Err(EncodeError::Range { what, value: d });
        }
        self.out.push(d as u8);
        Ok(())
    }
}

/// The displacement byte, enforcing the ranges both assemblers accept for its printed form.
fn disp_byte(i: &Idx, here: u16, symbols: &Symbols) -> Result<u8, EncodeError> {
    const WHAT: &str = "index displacement";
    match &i.disp {
        Expr::Num(n) => {
            if (-128..=127).contains(n) {
                Ok(*n as u8)
            } else {
                Err(EncodeError::Range {
                    what: WHAT,
                    value: i64::from(*n),
                })
            }
        }
        Expr::Sub(z, e) if **z == Expr::Num(0) => {
            if !matches!(**e, Expr::Num(_) | Expr::Hex(_) | Expr::Sym(_) | Expr::Here) {
                return Err(EncodeError::Unportable(
                    "`(ix-e)` needs a single symbol or number as `e` (z80asm warns on parentheses)",
                ));
            }
            let v = e.eval(here, symbols)?;
            if (0..=128).contains(&v) {
                Ok((-v) as u8)
            } else {
                Err(EncodeError::Range {
                    what: "negated index displacement",
                    value: v,
                })
            }
        }
        e => {
            let v = e.eval(here, symbols)?;
            if (0..=127).contains(&v) {
                Ok(v as u8)
            } else {
                Err(EncodeError::Range {
                    what: "symbolic index displacement",
                    value: v,
                })
            }
        }
    }
}

impl Inst {
    /// Length of the encoding in bytes; never depends on operand values.
    pub fn size(&self) -> u16 {
        use Inst::*;
        let site = |s: Site| match s {
            Site::Reg(_) | Site::Hl => 0,
            Site::Idx(_) => 2, // prefix and displacement
        };
        match self {
            Ld(_, s) | Alu(_, s) => match s {
                Src8::R(_) | Src8::Hl => 1,
                Src8::N(_) => 2,
                Src8::Idx(_) => 3,
            },
            St(m, _) => 1 + site(m.site()),
            StImm(m, _) => 2 + site(m.site()),
            LdAPtr(_) | LdPtrA(_) => 1,
            LdAMem(_) | LdMemA(_) => 3,
            LdAI | LdAR | LdIA | LdRA => 2,
            Ld16(r, _) => 3 + u16::from(r.split().0.is_some()),
            Ld16Mem(r, _) | St16Mem(_, r) => match r {
                Reg16::HL => 3,
                _ => 4,
            },
            LdSp(r) | ExSp(r) | JpInd(r) => 1 + u16::from(r.prefix().is_some()),
            Push(r) | Pop(r) => 1 + u16::from(r.split().0.is_some()),
            ExDeHl | ExAf | Exx => 1,
            Inc(l) | Dec(l) => 1 + site(l.site()),
            Inc16(r) | Dec16(r) => 1 + u16::from(r.split().0.is_some()),
            AddHl(_) => 1,
            AdcHl(_) | SbcHl(_) | AddIdx(..) => 2,
            Daa | Cpl | Ccf | Scf | Rlca | Rrca | Rla | Rra => 1,
            Neg | Rld | Rrd => 2,
            Rot(_, l) | Bit(_, l) | Set(_, l) | Res(_, l) => 2 + site(l.site()),
            Jp(_) | JpCc(..) | Call(_) | CallCc(..) => 3,
            Jr(_) | JrCc(..) | Djnz(_) => 2,
            Ret | RetCc(_) | Rst(_) => 1,
            Reti | Retn => 2,
            Ldi | Ldir | Ldd | Lddr | Cpi | Cpir | Cpd | Cpdr => 2,
            Nop | Halt | Di | Ei => 1,
            Im(_) => 2,
            InA(_) | OutA(_) => 2,
            InC(_) | OutC(_) => 2,
        }
    }

    /// Clock cycles, from the Zilog Z80 CPU User Manual (UM0080).
    pub fn tstates(&self) -> Tstates {
        use Inst::*;
        let f = Tstates::fixed;
        // (reg, (hl), (ix+d)) timings for an 8-bit location.
        let by = |s: Site, r: u8, hl: u8, ix: u8| match s {
            Site::Reg(_) => f(r),
            Site::Hl => f(hl),
            Site::Idx(_) => f(ix),
        };
        let src = |s: &Src8| match s {
            Src8::R(_) => f(4),
            Src8::Hl | Src8::N(_) => f(7),
            Src8::Idx(_) => f(19),
        };
        match self {
            Ld(_, s) | Alu(_, s) => src(s),
            St(m, _) => by(m.site(), 7, 7, 19),
            StImm(m, _) => by(m.site(), 10, 10, 19),
            LdAPtr(_) | LdPtrA(_) => f(7),
            LdAMem(_) | LdMemA(_) => f(13),
            LdAI | LdAR | LdIA | LdRA => f(9),
            Ld16(r, _) => f(if r.split().0.is_some() { 14 } else { 10 }),
            Ld16Mem(r, _) | St16Mem(_, r) => f(if *r == Reg16::HL { 16 } else { 20 }),
            LdSp(r) => f(if *r == HlIx::HL { 6 } else { 10 }),
            Push(r) => f(if r.split().0.is_some() { 15 } else { 11 }),
            Pop(r) => f(if r.split().0.is_some() { 14 } else { 10 }),
            ExDeHl | ExAf | Exx => f(4),
            ExSp(r) => f(if *r == HlIx::HL { 19 } else { 23 }),
            Inc(l) | Dec(l) => by(l.site(), 4, 11, 23),
            Inc16(r) | Dec16(r) => f(if r.split().0.is_some() { 10 } else { 6 }),
            AddHl(_) => f(11),
            AdcHl(_) | SbcHl(_) | AddIdx(..) => f(15),
            Daa | Cpl | Ccf | Scf | Rlca | Rrca | Rla | Rra => f(4),
            Neg => f(8),
            Rld | Rrd => f(18),
            Rot(_, l) | Set(_, l) | Res(_, l) => by(l.site(), 8, 15, 23),
            Bit(_, l) => by(l.site(), 8, 12, 20),
            Jp(_) | JpCc(..) => f(10),
            JpInd(r) => f(if *r == HlIx::HL { 4 } else { 8 }),
            Jr(_) => f(12),
            JrCc(..) => Tstates::cond(12, 7),
            Djnz(_) => Tstates::cond(13, 8),
            Call(_) => f(17),
            CallCc(..) => Tstates::cond(17, 10),
            Ret => f(10),
            RetCc(_) => Tstates::cond(11, 5),
            Reti | Retn => f(14),
            Rst(_) => f(11),
            Ldi | Ldd | Cpi | Cpd => f(16),
            Ldir | Lddr | Cpir | Cpdr => Tstates::cond(21, 16),
            Nop | Halt | Di | Ei => f(4),
            Im(_) => f(8),
            InA(_) | OutA(_) => f(11),
            InC(_) | OutC(_) => f(12),
        }
    }

    /// The machine code, for the instruction at address `here` with `symbols` resolved.
    pub fn encode(&self, here: u16, symbols: &Symbols) -> Result<Vec<u8>, EncodeError> {
        let mut e = Enc {
            out: Vec::with_capacity(4),
            here,
            symbols,
        };
        self.encode_into(&mut e)?;
        Ok(e.out)
    }

    fn encode_into(&self, e: &mut Enc) -> Result<(), EncodeError> {
        use Inst::*;
        match self {
            Ld(r, s) => {
                let r = r.code() << 3;
                match s {
                    Src8::R(s) => e.op(&[0x40 | r | s.code()]),
                    Src8::Hl => e.op(&[0x46 | r]),
                    Src8::Idx(i) => {
                        e.op(&[i.reg.prefix(), 0x46 | r]);
                        e.disp(i)?;
                    }
                    Src8::N(n) => {
                        e.op(&[0x06 | r]);
                        e.byte(n, "immediate byte")?;
                    }
                }
            }
            St(m, r) => site_op(e, m.site(), 0x70 | r.code())?,
            StImm(m, n) => {
                site_op(e, m.site(), 0x36)?;
                e.byte(n, "immediate byte")?;
            }
            LdAPtr(p) => e.op(&[if *p == BcDe::BC { 0x0A } else { 0x1A }]),
            LdPtrA(p) => e.op(&[if *p == BcDe::BC { 0x02 } else { 0x12 }]),
            LdAMem(a) => {
                e.op(&[0x3A]);
                e.word(a, "address")?;
            }
            LdMemA(a) => {
                e.op(&[0x32]);
                e.word(a, "address")?;
            }
            LdAI => e.op(&[0xED, 0x57]),
            LdAR => e.op(&[0xED, 0x5F]),
            LdIA => e.op(&[0xED, 0x47]),
            LdRA => e.op(&[0xED, 0x4F]),
            Ld16(r, n) => {
                let (p, c) = r.split();
                e.op(p.as_slice());
                e.op(&[0x01 | c << 4]);
                e.word(n, "immediate word")?;
            }
            Ld16Mem(r, a) => {
                match r.split() {
                    (p, 2) => {
                        e.op(p.as_slice());
                        e.op(&[0x2A]);
                    }
                    (_, c) => e.op(&[0xED, 0x4B | c << 4]),
                }
                e.word(a, "address")?;
            }
            St16Mem(a, r) => {
                match r.split() {
                    (p, 2) => {
                        e.op(p.as_slice());
                        e.op(&[0x22]);
                    }
                    (_, c) => e.op(&[0xED, 0x43 | c << 4]),
                }
                e.word(a, "address")?;
            }
            LdSp(r) => {
                e.op(r.prefix().as_slice());
                e.op(&[0xF9]);
            }
            Push(r) | Pop(r) => {
                let (p, c) = r.split();
                e.op(p.as_slice());
                let base = if matches!(self, Push(_)) { 0xC5 } else { 0xC1 };
                e.op(&[base | c << 4]);
            }
            ExDeHl => e.op(&[0xEB]),
            ExAf => e.op(&[0x08]),
            Exx => e.op(&[0xD9]),
            ExSp(r) => {
                e.op(r.prefix().as_slice());
                e.op(&[0xE3]);
            }
            Alu(op, s) => {
                let o = op.code() << 3;
                match s {
                    Src8::R(r) => e.op(&[0x80 | o | r.code()]),
                    Src8::Hl => e.op(&[0x86 | o]),
                    Src8::Idx(i) => {
                        e.op(&[i.reg.prefix(), 0x86 | o]);
                        e.disp(i)?;
                    }
                    Src8::N(n) => {
                        e.op(&[0xC6 | o]);
                        e.byte(n, "immediate byte")?;
                    }
                }
            }
            Inc(l) => match l.site() {
                Site::Reg(r) => e.op(&[0x04 | r << 3]),
                s => site_op(e, s, 0x34)?,
            },
            Dec(l) => match l.site() {
                Site::Reg(r) => e.op(&[0x05 | r << 3]),
                s => site_op(e, s, 0x35)?,
            },
            Inc16(r) | Dec16(r) => {
                let (p, c) = r.split();
                e.op(p.as_slice());
                let base = if matches!(self, Inc16(_)) { 0x03 } else { 0x0B };
                e.op(&[base | c << 4]);
            }
            AddHl(p) => e.op(&[0x09 | p.code() << 4]),
            AdcHl(p) => e.op(&[0xED, 0x4A | p.code() << 4]),
            SbcHl(p) => e.op(&[0xED, 0x42 | p.code() << 4]),
            AddIdx(x, p) => e.op(&[x.prefix(), 0x09 | p.code() << 4]),
            Daa => e.op(&[0x27]),
            Cpl => e.op(&[0x2F]),
            Neg => e.op(&[0xED, 0x44]),
            Ccf => e.op(&[0x3F]),
            Scf => e.op(&[0x37]),
            Rlca => e.op(&[0x07]),
            Rrca => e.op(&[0x0F]),
            Rla => e.op(&[0x17]),
            Rra => e.op(&[0x1F]),
            Rld => e.op(&[0xED, 0x6F]),
            Rrd => e.op(&[0xED, 0x67]),
            Rot(op, l) => cb_op(e, l, op.code() << 3)?,
            Bit(b, l) | Set(b, l) | Res(b, l) => {
                if *b > 7 {
                    return Err(EncodeError::Range {
                        what: "bit number",
                        value: i64::from(*b),
                    });
                }
                let base = match self {
                    Bit(..) => 0x40,
                    Res(..) => 0x80,
                    _ => 0xC0,
                };
                cb_op(e, l, base | b << 3)?;
            }
            Jp(a) => {
                e.op(&[0xC3]);
                e.word(a, "address")?;
            }
            JpCc(c, a) => {
                e.op(&[0xC2 | c.code() << 3]);
                e.word(a, "address")?;
            }
            JpInd(r) => {
                e.op(r.prefix().as_slice());
                e.op(&[0xE9]);
            }
            Jr(t) => {
                e.op(&[0x18]);
                e.rel(t, "jr displacement")?;
            }
            JrCc(c, t) => {
                e.op(&[0x20 | c.code() << 3]);
                e.rel(t, "jr displacement")?;
            }
            Djnz(t) => {
                e.op(&[0x10]);
                e.rel(t, "djnz displacement")?;
            }
            Call(a) => {
                e.op(&[0xCD]);
                e.word(a, "address")?;
            }
            CallCc(c, a) => {
                e.op(&[0xC4 | c.code() << 3]);
                e.word(a, "address")?;
            }
            Ret => e.op(&[0xC9]),
            RetCc(c) => e.op(&[0xC0 | c.code() << 3]),
            Reti => e.op(&[0xED, 0x4D]),
            Retn => e.op(&[0xED, 0x45]),
            Rst(p) => {
                if *p & !0x38 != 0 {
                    return Err(EncodeError::Range {
                        what: "rst vector",
                        value: i64::from(*p),
                    });
                }
                e.op(&[0xC7 | p]);
            }
            Ldi => e.op(&[0xED, 0xA0]),
            Ldir => e.op(&[0xED, 0xB0]),
            Ldd => e.op(&[0xED, 0xA8]),
            Lddr => e.op(&[0xED, 0xB8]),
            Cpi => e.op(&[0xED, 0xA1]),
            Cpir => e.op(&[0xED, 0xB1]),
            Cpd => e.op(&[0xED, 0xA9]),
            Cpdr => e.op(&[0xED, 0xB9]),
            Nop => e.op(&[0x00]),
            Halt => e.op(&[0x76]),
            Di => e.op(&[0xF3]),
            Ei => e.op(&[0xFB]),
            Im(m) => {
                let code = match m {
                    0 => 0x46,
                    1 => 0x56,
                    2 => 0x5E,
                    _ => {
                        return Err(EncodeError::Range {
                            what: "interrupt mode",
                            value: i64::from(*m),
                        })
                    }
                };
                e.op(&[0xED, code]);
            }
            InA(n) => {
                e.op(&[0xDB]);
                e.byte(n, "port")?;
            }
            OutA(n) => {
                e.op(&[0xD3]);
                e.byte(n, "port")?;
            }
            InC(r) => e.op(&[0xED, 0x40 | r.code() << 3]),
            OutC(r) => e.op(&[0xED, 0x41 | r.code() << 3]),
        }
        Ok(())
    }
}

/// A one-byte opcode on `(hl)` or `(ix+d)`: the index forms insert prefix and displacement.
fn site_op(e: &mut Enc, s: Site, op: u8) -> Result<(), EncodeError> {
    match s {
        Site::Reg(_) | Site::Hl => e.op(&[op]),
        Site::Idx(i) => {
            e.op(&[i.reg.prefix(), op]);
            e.disp(i)?;
        }
    }
    Ok(())
}

/// A CB-prefixed opcode; the index form puts the displacement before the opcode byte.
fn cb_op(e: &mut Enc, l: &Loc8, op: u8) -> Result<(), EncodeError> {
    match l.site() {
        Site::Reg(r) => e.op(&[0xCB, op | r]),
        Site::Hl => e.op(&[0xCB, op | 6]),
        Site::Idx(i) => {
            e.op(&[i.reg.prefix(), 0xCB]);
            e.disp(i)?;
            e.op(&[op | 6]);
        }
    }
    Ok(())
}
