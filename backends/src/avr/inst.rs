//! AVR instructions as data, in the manner of Cranelift's per-ISA `MInst`:
//! typed operands, the size in words, the cycle count, and the text avr-gcc's
//! assembler reads. The generator builds [`MInst`]s; the code buffer
//! (`buffer.rs`) lays them out, relaxes branches and prints them.

use std::fmt;

/// Defines operation enums whose variants print as the given mnemonics: the
/// one mnemonic table of the AVR backend.
macro_rules! mnemonics {
    ($($(#[$doc:meta])* $ty:ident { $($v:ident = $m:ident),* $(,)? })*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty {
            $(#[doc = concat!("`", stringify!($m), "`")] $v,)*
        }

        impl $ty {
            /// The mnemonic as the assembler spells it.
            pub fn mnemonic(self) -> &'static str {
                match self {
                    $($ty::$v => stringify!($m),)*
                }
            }
        }
    )*};
}

mnemonics! {
    /// Operations on one register (`clr`, `tst`, `lsl`, `rol` are the
    /// assembler's aliases of `eor`, `and`, `add`, `adc` with rd = rr).
    Op1 {
        Inc = inc, Dec = dec, Com = com, Neg = neg, Swap = swap, Asr = asr, Lsr = lsr,
        Ror = ror, Lsl = lsl, Rol = rol, Clr = clr, Tst = tst, Push = push, Pop = pop,
    }
    /// Operations on two registers.
    Op2 {
        Add = add, Adc = adc, Sub = sub, Sbc = sbc, And = and, Or = or, Eor = eor, Cp = cp, Cpc = cpc,
        Mov = mov, Movw = movw, Mul = mul, Muls = muls, Mulsu = mulsu,
    }
    /// Operations on r16–r31 and an 8-bit immediate.
    OpImm { Ldi = ldi, Cpi = cpi, Andi = andi, Subi = subi, Sbci = sbci }
    /// Operations on a register pair (r24, r26, r28, r30) and 0..=63.
    OpWord { Adiw = adiw, Sbiw = sbiw }
    /// Operations on a register and a bit number.
    OpBit { Sbrs = sbrs, Sbrc = sbrc, Bld = bld }
    /// Operations without operands.
    Op0 { Ret = ret, Sec = sec, Clt = clt, Set = set }
    /// Memory and I/O accesses.
    OpMem {
        Ld = ld, Ldd = ldd, St = st, Std = std, Lpm = lpm, Elpm = elpm, Lds = lds, Sts = sts,
        In = in, Out = out,
    }
    /// Jumps and calls: relative (±2 K words) and absolute (two words).
    OpFlow { Rjmp = rjmp, Jmp = jmp, Rcall = rcall, Call = call }
    /// Branch conditions, named by their branch instruction (±64 words).
    Cond {
        Eq = breq, Ne = brne, Lo = brlo, Sh = brsh, Lt = brlt, Ge = brge, Cs = brcs,
        Cc = brcc, Ts = brts, Tc = brtc,
    }
}

impl Cond {
    /// The condition that holds exactly when `self` does not.
    pub fn invert(self) -> Cond {
        match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Lo => Cond::Sh,
            Cond::Sh => Cond::Lo,
            Cond::Lt => Cond::Ge,
            Cond::Ge => Cond::Lt,
            Cond::Cs => Cond::Cc,
            Cond::Cc => Cond::Cs,
            Cond::Ts => Cond::Tc,
            Cond::Tc => Cond::Ts,
        }
    }
}

/// A general-purpose register, r0–r31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reg(pub u8);

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Defines the register constants.
macro_rules! regs {
    ($($name:ident = $n:literal),*) => {$(
        #[doc = concat!("Register r", stringify!($n), ".")]
        pub const $name: Reg = Reg($n);
    )*};
}

regs!(
    R0 = 0,
    R1 = 1,
    R2 = 2,
    R3 = 3,
    R4 = 4,
    R5 = 5,
    R6 = 6,
    R7 = 7,
    R8 = 8,
    R9 = 9,
    R10 = 10,
    R11 = 11,
    R12 = 12,
    R13 = 13,
    R14 = 14,
    R15 = 15,
    R16 = 16,
    R17 = 17,
    R18 = 18,
    R19 = 19,
    R20 = 20,
    R21 = 21,
    R22 = 22,
    R23 = 23,
    R24 = 24,
    R25 = 25,
    R26 = 26,
    R27 = 27,
    R28 = 28,
    R29 = 29,
    R30 = 30,
    R31 = 31
);

/// A pointer register as `ld`, `st` and `lpm` use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ptr {
    /// `X`
    X,
    /// `X+` (post-increment)
    XInc,
    /// `Y`
    Y,
    /// `Y+`
    YInc,
    /// `Z`
    Z,
    /// `Z+`
    ZInc,
}

impl fmt::Display for Ptr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Ptr::X => "X",
            Ptr::XInc => "X+",
            Ptr::Y => "Y",
            Ptr::YInc => "Y+",
            Ptr::Z => "Z",
            Ptr::ZInc => "Z+",
        })
    }
}

/// A symbol plus a byte offset (`NAME_qs+1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sym {
    /// The symbol.
    pub name: String,
    /// Bytes past it.
    pub offset: u16,
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.offset > 0 {
            write!(f, "+{}", self.offset)?;
        }
        Ok(())
    }
}

impl From<&str> for Sym {
    fn from(name: &str) -> Sym {
        Sym {
            name: name.to_string(),
            offset: 0,
        }
    }
}

impl From<String> for Sym {
    fn from(name: String) -> Sym {
        Sym { name, offset: 0 }
    }
}

impl From<&String> for Sym {
    fn from(name: &String) -> Sym {
        Sym::from(name.as_str())
    }
}

/// An 8-bit immediate, written as the generator wants it read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Imm {
    /// A number in hex, `0x41`.
    Hex(u8),
    /// A number in decimal.
    Dec(u8),
    /// `lo8(sym)`: bits 0–7 of an address.
    Lo8(Sym),
    /// `hi8(sym)`: bits 8–15.
    Hi8(Sym),
    /// `hh8(sym)`: bits 16–23 (flash beyond 64 KB).
    Hh8(Sym),
}

impl fmt::Display for Imm {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Imm::Hex(v) => write!(f, "0x{v:02X}"),
            Imm::Dec(v) => write!(f, "{v}"),
            Imm::Lo8(s) => write!(f, "lo8({s})"),
            Imm::Hi8(s) => write!(f, "hi8({s})"),
            Imm::Hh8(s) => write!(f, "hh8({s})"),
        }
    }
}

/// An I/O register, addressed for `in` and `out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Io {
    /// The ATmega2560's flash page register for `elpm`.
    Rampz,
}

impl fmt::Display for Io {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Io::Rampz => "_SFR_IO_ADDR(RAMPZ)",
        })
    }
}

/// Where a branch, jump or call goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dest {
    /// A named label or symbol; the buffer knows whether it is in the code.
    Label(String),
    /// The next numeric local label `n:` (written `nf`).
    Next(u8),
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Dest::Label(l) => f.write_str(l),
            Dest::Next(n) => write!(f, "{n}f"),
        }
    }
}

impl From<&str> for Dest {
    fn from(l: &str) -> Dest {
        Dest::Label(l.to_string())
    }
}

impl From<String> for Dest {
    fn from(l: String) -> Dest {
        Dest::Label(l)
    }
}

impl From<&String> for Dest {
    fn from(l: &String) -> Dest {
        Dest::Label(l.clone())
    }
}

/// The AVR core, where timings differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Core {
    /// ATmega328P: a 2-byte program counter.
    Mega328,
    /// ATmega2560: a 3-byte program counter, so calls and returns push or
    /// pop one byte more and take a cycle longer.
    Mega2560,
}

/// Cycles an instruction takes: `min` when a branch is not taken (or a skip
/// does not skip), `max` when it is (a skip over a two-word instruction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycles {
    /// Fewest cycles.
    pub min: u8,
    /// Most cycles.
    pub max: u8,
}

impl Cycles {
    fn fixed(n: u8) -> Cycles {
        Cycles { min: n, max: n }
    }
}

/// One AVR instruction with typed operands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MInst {
    /// `op rd`.
    R {
        /// The operation.
        op: Op1,
        /// The register.
        rd: Reg,
    },
    /// `op rd, rr` (`movw` names the low registers of the pairs).
    RR {
        /// The operation.
        op: Op2,
        /// Destination.
        rd: Reg,
        /// Source.
        rr: Reg,
    },
    /// `op rd, k` with rd in r16–r31.
    RI {
        /// The operation.
        op: OpImm,
        /// Destination.
        rd: Reg,
        /// The immediate.
        k: Imm,
    },
    /// `adiw`/`sbiw rd, k` on the pair rd+1:rd.
    Word {
        /// The operation.
        op: OpWord,
        /// Low register of the pair.
        rd: Reg,
        /// 0..=63.
        k: u8,
    },
    /// `sbrs`/`sbrc`/`bld r, bit`.
    Bit {
        /// The operation.
        op: OpBit,
        /// The register.
        r: Reg,
        /// Bit number, 0..=7.
        bit: u8,
    },
    /// An instruction without operands.
    Op0(Op0),
    /// `ld rd, ptr`.
    Ld {
        /// Destination.
        rd: Reg,
        /// Address.
        ptr: Ptr,
    },
    /// `ldd rd, Y+q`.
    Ldd {
        /// Destination.
        rd: Reg,
        /// Displacement, 0..=63.
        q: u8,
    },
    /// `st ptr, rr`.
    St {
        /// Address.
        ptr: Ptr,
        /// Source.
        rr: Reg,
    },
    /// `std Y+q, rr`.
    Std {
        /// Displacement, 0..=63.
        q: u8,
        /// Source.
        rr: Reg,
    },
    /// `lpm`/`elpm rd, Z` or `Z+`.
    Lpm {
        /// `elpm` (reads RAMPZ:Z) instead of `lpm`.
        far: bool,
        /// Destination.
        rd: Reg,
        /// Whether Z (and RAMPZ) step on.
        inc: bool,
    },
    /// `lds rd, sym` (two words).
    Lds {
        /// Destination.
        rd: Reg,
        /// The RAM address.
        sym: Sym,
    },
    /// `sts sym, rr` (two words).
    Sts {
        /// The RAM address.
        sym: Sym,
        /// Source.
        rr: Reg,
    },
    /// `in rd, io`.
    In {
        /// Destination.
        rd: Reg,
        /// The I/O register.
        io: Io,
    },
    /// `out io, rr`.
    Out {
        /// The I/O register.
        io: Io,
        /// Source.
        rr: Reg,
    },
    /// `brXX to`: reaches 64 words back and 63 on.
    Br {
        /// The condition that branches.
        cond: Cond,
        /// Where to.
        to: Dest,
    },
    /// `rjmp`, `jmp`, `rcall`, `call`.
    Flow {
        /// The operation.
        op: OpFlow,
        /// Where to.
        to: Dest,
    },
}

impl MInst {
    /// Size in 16-bit words.
    pub fn words(&self) -> usize {
        match self {
            MInst::Lds { .. }
            | MInst::Sts { .. }
            | MInst::Flow {
                op: OpFlow::Jmp | OpFlow::Call,
                ..
            } => 2,
            _ => 1,
        }
    }

    /// Size in bytes.
    pub fn bytes(&self) -> usize {
        2 * self.words()
    }

    /// Cycles on `core` (the AVR instruction set manual, AVRe+ timings).
    pub fn cycles(&self, core: Core) -> Cycles {
        let big_pc = u8::from(core == Core::Mega2560);
        match self {
            MInst::R { op, .. } => Cycles::fixed(match op {
                Op1::Push | Op1::Pop => 2,
                _ => 1,
            }),
            MInst::RR { op, .. } => Cycles::fixed(match op {
                Op2::Mul | Op2::Muls | Op2::Mulsu => 2,
                _ => 1,
            }),
            MInst::RI { .. } | MInst::In { .. } | MInst::Out { .. } => Cycles::fixed(1),
            MInst::Word { .. } => Cycles::fixed(2),
            MInst::Bit { op, .. } => match op {
                OpBit::Bld => Cycles::fixed(1),
                OpBit::Sbrs | OpBit::Sbrc => Cycles { min: 1, max: 3 },
            },
            MInst::Op0(op) => Cycles::fixed(match op {
                Op0::Ret => 4 + big_pc,
                _ => 1,
            }),
            MInst::Ld { .. }
            | MInst::Ldd { .. }
            | MInst::St { .. }
            | MInst::Std { .. }
            | MInst::Lds { .. }
            | MInst::Sts { .. } => Cycles::fixed(2),
            MInst::Lpm { .. } => Cycles::fixed(3),
            MInst::Br { .. } => Cycles { min: 1, max: 2 },
            MInst::Flow { op, .. } => Cycles::fixed(match op {
                OpFlow::Rjmp => 2,
                OpFlow::Jmp => 3,
                OpFlow::Rcall => 3 + big_pc,
                OpFlow::Call => 4 + big_pc,
            }),
        }
    }

    /// Where the branch, jump or call goes, if it is one.
    pub fn dest(&self) -> Option<&Dest> {
        match self {
            MInst::Br { to, .. } | MInst::Flow { to, .. } => Some(to),
            _ => None,
        }
    }
}

impl fmt::Display for MInst {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            MInst::R { op, rd } => write!(f, "{} {rd}", op.mnemonic()),
            MInst::RR { op, rd, rr } => write!(f, "{} {rd}, {rr}", op.mnemonic()),
            MInst::RI { op, rd, k } => write!(f, "{} {rd}, {k}", op.mnemonic()),
            MInst::Word { op, rd, k } => write!(f, "{} {rd}, {k}", op.mnemonic()),
            MInst::Bit { op, r, bit } => write!(f, "{} {r}, {bit}", op.mnemonic()),
            MInst::Op0(op) => f.write_str(op.mnemonic()),
            MInst::Ld { rd, ptr } => write!(f, "{} {rd}, {ptr}", OpMem::Ld.mnemonic()),
            MInst::Ldd { rd, q } => write!(f, "{} {rd}, Y+{q}", OpMem::Ldd.mnemonic()),
            MInst::St { ptr, rr } => write!(f, "{} {ptr}, {rr}", OpMem::St.mnemonic()),
            MInst::Std { q, rr } => write!(f, "{} Y+{q}, {rr}", OpMem::Std.mnemonic()),
            MInst::Lpm { far, rd, inc } => {
                let op = if *far { OpMem::Elpm } else { OpMem::Lpm };
                let z = if *inc { Ptr::ZInc } else { Ptr::Z };
                write!(f, "{} {rd}, {z}", op.mnemonic())
            }
            MInst::Lds { rd, sym } => write!(f, "{} {rd}, {sym}", OpMem::Lds.mnemonic()),
            MInst::Sts { sym, rr } => write!(f, "{} {sym}, {rr}", OpMem::Sts.mnemonic()),
            MInst::In { rd, io } => write!(f, "{} {rd}, {io}", OpMem::In.mnemonic()),
            MInst::Out { io, rr } => write!(f, "{} {io}, {rr}", OpMem::Out.mnemonic()),
            MInst::Br { cond, to } => write!(f, "{} {to}", cond.mnemonic()),
            MInst::Flow { op, to } => write!(f, "{} {to}", op.mnemonic()),
        }
    }
}
