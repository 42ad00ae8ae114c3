//! Shorthands that push one typed instruction each, named after the
//! mnemonic, so that the generator reads like the assembly it emits.

use super::buffer::Buffer;
use super::inst::{
    Cond, Dest, Imm, Io, MInst, Op0, Op1, Op2, OpBit, OpFlow, OpImm, OpWord, Ptr, Reg, Sym,
};

/// An immediate written in hex.
pub fn hex(v: u8) -> Imm {
    Imm::Hex(v)
}

/// An immediate written in decimal; `v` must fit a byte.
pub fn dec(v: usize) -> Imm {
    Imm::Dec(u8::try_from(v).expect("an 8-bit immediate"))
}

/// The low byte of a 16-bit constant, in hex.
pub fn lo(v: u32) -> Imm {
    Imm::Hex(v as u8)
}

/// The high byte of a 16-bit constant, in hex.
pub fn hi(v: u32) -> Imm {
    Imm::Hex((v >> 8) as u8)
}

/// `lo8(sym)`.
pub fn lo8(sym: impl Into<Sym>) -> Imm {
    Imm::Lo8(sym.into())
}

/// `hi8(sym)`.
pub fn hi8(sym: impl Into<Sym>) -> Imm {
    Imm::Hi8(sym.into())
}

/// `hh8(sym)`.
pub fn hh8(sym: impl Into<Sym>) -> Imm {
    Imm::Hh8(sym.into())
}

/// `sym+offset`.
pub fn at(sym: impl Into<String>, offset: u16) -> Sym {
    Sym {
        name: sym.into(),
        offset,
    }
}

/// Methods `name(args)` pushing `MInst::$variant { op: $ty::$op, args }`.
macro_rules! shorthands {
    (Op0: $($name:ident = $op:ident),*) => {
        impl Buffer {
            $(#[doc = concat!("`", stringify!($name), "`")]
            pub fn $name(&mut self) {
                self.inst(MInst::Op0(Op0::$op));
            })*
        }
    };
    ($variant:ident, $ty:ident, $params:tt: $($name:ident = $op:ident),*) => {
        $(shorthands!(@one $variant, $ty, $params, $name, $op);)*
    };
    (@one $variant:ident, $ty:ident, ($($arg:ident: $t:ty),*), $name:ident, $op:ident) => {
        impl Buffer {
            #[doc = concat!("`", stringify!($name), "`")]
            pub fn $name(&mut self, $($arg: $t),*) {
                self.inst(MInst::$variant { op: $ty::$op, $($arg),* });
            }
        }
    };
}

shorthands!(R, Op1, (rd: Reg): inc = Inc, dec = Dec, com = Com, neg = Neg, swap = Swap,
    asr = Asr, lsr = Lsr, ror = Ror, lsl = Lsl, rol = Rol, clr = Clr, tst = Tst, push = Push, pop = Pop);
shorthands!(RR, Op2, (rd: Reg, rr: Reg): add = Add, adc = Adc, sub = Sub, sbc = Sbc,
    and = And, or = Or, eor = Eor, cp = Cp, cpc = Cpc, mov = Mov, movw = Movw, mul = Mul, muls = Muls,
    mulsu = Mulsu);
shorthands!(RI, OpImm, (rd: Reg, k: Imm): ldi = Ldi, cpi = Cpi, andi = Andi, subi = Subi,
    sbci = Sbci);
shorthands!(Word, OpWord, (rd: Reg, k: u8): adiw = Adiw, sbiw = Sbiw);
shorthands!(Op0: ret = Ret, sec = Sec, clt = Clt, set = Set);
shorthands!(Bit, OpBit, (r: Reg, bit: u8): sbrc = Sbrc, sbrs = Sbrs, bld = Bld);

/// Branch methods `name(to)`, lengthened by the buffer if out of reach.
macro_rules! branches {
    ($($name:ident = $cond:ident),*) => {
        impl Buffer {
            $(#[doc = concat!("`", stringify!($name), " to`")]
            pub fn $name(&mut self, to: impl Into<Dest>) {
                self.inst(MInst::Br { cond: Cond::$cond, to: to.into() });
            })*
        }
    };
}

branches!(
    breq = Eq,
    brne = Ne,
    brlo = Lo,
    brsh = Sh,
    brge = Ge,
    brlt = Lt,
    brcs = Cs,
    brts = Ts
);

impl Buffer {
    /// `rjmp to` (`jmp` if out of reach).
    pub fn rjmp(&mut self, to: impl Into<Dest>) {
        self.flow(OpFlow::Rjmp, to.into());
    }

    /// `rcall to` (`call` if out of reach).
    pub fn rcall(&mut self, to: impl Into<Dest>) {
        self.flow(OpFlow::Rcall, to.into());
    }

    fn flow(&mut self, op: OpFlow, to: Dest) {
        self.inst(MInst::Flow { op, to });
    }

    /// `ld rd, ptr`.
    pub fn ld(&mut self, rd: Reg, ptr: Ptr) {
        self.inst(MInst::Ld { rd, ptr });
    }

    /// `ldd rd, Y+q`.
    pub fn ldd(&mut self, rd: Reg, q: u8) {
        self.inst(MInst::Ldd { rd, q });
    }

    /// `st ptr, rr`.
    pub fn st(&mut self, ptr: Ptr, rr: Reg) {
        self.inst(MInst::St { ptr, rr });
    }

    /// `std Y+q, rr`.
    pub fn std(&mut self, q: u8, rr: Reg) {
        self.inst(MInst::Std { q, rr });
    }

    /// `lpm rd, Z` (`Z+` if `inc`), `elpm` if `far`.
    pub fn lpm(&mut self, far: bool, rd: Reg, inc: bool) {
        self.inst(MInst::Lpm { far, rd, inc });
    }

    /// `lds rd, sym`.
    pub fn lds(&mut self, rd: Reg, sym: impl Into<Sym>) {
        self.inst(MInst::Lds {
            rd,
            sym: sym.into(),
        });
    }

    /// `sts sym, rr`.
    pub fn sts(&mut self, sym: impl Into<Sym>, rr: Reg) {
        self.inst(MInst::Sts {
            sym: sym.into(),
            rr,
        });
    }

    /// `in rd, io`.
    pub fn input(&mut self, rd: Reg, io: Io) {
        self.inst(MInst::In { rd, io });
    }

    /// `out io, rr`.
    pub fn out(&mut self, io: Io, rr: Reg) {
        self.inst(MInst::Out { io, rr });
    }
}
