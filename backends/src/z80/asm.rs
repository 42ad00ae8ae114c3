//! Programs as item lists, and the two-pass assembler over them.
//!
//! The assembler accepts exactly the programs whose printed text z80asm and pasmo both
//! assemble to the same bytes, so anything it rejects (a late `org`, a reserved name, a
//! value that one of them would truncate silently) is rejected here first.

use super::expr::{EvalError, Expr, Symbols};
use super::isa::{EncodeError, Inst};
use super::mnemonics;
use std::collections::HashSet;

/// One line of a program.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Item {
    /// `name:` — the address of what follows.
    Label(String),
    /// An instruction.
    Inst(Inst),
    /// `org nn`; only before any byte is emitted, since z80asm and pasmo lay out later
    /// `org`s differently (z80asm concatenates, pasmo fills the gap).
    Org(Expr),
    /// `db ...`: bytes and strings.
    Db(Vec<Data>),
    /// `dw ...`: little-endian words.
    Dw(Vec<Expr>),
    /// `ds count[,fill]`: `count` bytes of `fill` (default 0).
    Ds(Expr, Option<Expr>),
    /// `name: equ value`; the value may only use symbols defined above.
    Equ(String, Expr),
    /// `; text` on a line of its own.
    Comment(String),
    /// `; text` at the end of the line of the item before it (a label, an instruction,
    /// a directive).
    Remark(String),
    /// An empty line, to keep printed programs readable.
    Blank,
}

/// One operand of `db`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Data {
    /// One byte.
    Byte(Expr),
    /// The bytes of a string; prints as `"..."`, except `"`, `\\` and non-printable
    /// bytes, which print as numbers (both assemblers read backslash escapes, and their
    /// escape sets need not agree). Build with [`Data::text`] to get items that parse
    /// back equal.
    Str(String),
}

impl Data {
    /// `s` as `db` operands split the way the parser reads the printed text back.
    pub fn text(s: &str) -> Vec<Data> {
        let mut out = Vec::new();
        let mut run = String::new();
        for &b in s.as_bytes() {
            if is_string_byte(b) {
                run.push(b as char);
            } else {
                if !run.is_empty() {
                    out.push(Data::Str(std::mem::take(&mut run)));
                }
                out.push(Data::Byte(Expr::Num(i32::from(b))));
            }
        }
        if !run.is_empty() {
            out.push(Data::Str(run));
        }
        out
    }
}

/// Whether a byte may appear inside a printed `"..."` string.
pub(crate) fn is_string_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

impl From<Inst> for Item {
    fn from(i: Inst) -> Item {
        Item::Inst(i)
    }
}

/// An assembled program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// The load address of `bytes[0]`.
    pub origin: u16,
    /// The machine code, as z80asm and pasmo write it.
    pub bytes: Vec<u8>,
    /// Every label and `equ`.
    pub symbols: Symbols,
    /// The address each item starts at (for listings and cycle counts).
    pub addresses: Vec<u16>,
}

/// Why a program does not assemble; `item` is the index of the offending item, which is
/// also the 0-based line of the printed text (one line per item).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {}: {}", .item + 1, .kind)]
pub struct AsmError {
    /// Index into the items.
    pub item: usize,
    /// What is wrong.
    pub kind: AsmErrorKind,
}

/// What is wrong with an item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsmErrorKind {
    /// A symbol that nothing defines.
    #[error("undefined symbol `{0}`")]
    Undefined(String),
    /// A label or `equ` that is already defined.
    #[error("`{0}` is defined twice")]
    Duplicate(String),
    /// A name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("`{0}` is not a valid name (letters, digits, `_`, not starting with a digit)")]
    BadName(String),
    /// A name z80asm or pasmo reserves (register, mnemonic, directive, operator).
    #[error("`{0}` is reserved by z80asm or pasmo")]
    Reserved(String),
    /// A value that does not fit its field.
    #[error("{what} {value} out of range")]
    Range {
        /// What the value is.
        what: &'static str,
        /// The value.
        value: i64,
    },
    /// An operand whose printed form one of the assemblers would misread or warn about.
    #[error("{0}")]
    Unportable(&'static str),
    /// `org` after bytes were emitted, which the two assemblers lay out differently.
    #[error("`org` after code must not move the address (z80asm and pasmo disagree)")]
    LateOrg,
    /// An `equ` value, `org` address or `ds` count that uses a symbol defined further
    /// down (z80asm silently takes such an `equ` as 0).
    #[error("the {0} may only use symbols defined above it")]
    NotYetKnown(&'static str),
    /// Code past address 0xffff.
    #[error("the program runs past address 0xffff")]
    Overflow,
    /// A `db`/`dw` without operands or with an empty string.
    #[error("empty {0}")]
    Empty(&'static str),
}

/// Words besides the mnemonics no symbol may be named after: z80asm or pasmo treat
/// them specially (checked case-insensitively, as both assemblers do for keywords).
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    // registers and conditions
    "a", "b", "c", "d", "e", "h", "l", "i", "r", "f", "af", "bc", "de", "hl", "sp", "ix", "iy",
    "ixh", "ixl", "iyh", "iyl", "nz", "z", "nc", "po", "pe", "p", "m",
    // directives
    "org", "equ", "defl", "db", "defb", "defm", "dm", "dw", "defw", "ds", "defs", "end", "if",
    "else", "endif", "include", "incbin", "public", "local", "proc", "endp", "macro", "endm",
    "exitm", "rept", "irp", "seek",
    // pasmo's word operators
    "low", "high", "mod", "not", "shl", "shr", "eq", "ne", "lt", "le", "gt", "ge", "nul",
    "defined",
];

/// Whether `name` is reserved by z80asm or pasmo (any case).
pub fn is_reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    RESERVED.contains(&lower.as_str()) || mnemonics::ALL.contains(&lower.as_str())
}

/// Whether `name` has the shape of a symbol both assemblers take.
pub fn is_identifier(name: &str) -> bool {
    let mut cs = name.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_name(name: &str) -> Result<(), AsmErrorKind> {
    if !is_identifier(name) {
        Err(AsmErrorKind::BadName(name.to_string()))
    } else if is_reserved(name) {
        Err(AsmErrorKind::Reserved(name.to_string()))
    } else {
        Ok(())
    }
}

/// Assembles `items` starting at `origin` (a leading `org` overrides it).
pub fn assemble(items: &[Item], origin: u16) -> Result<Assembled, AsmError> {
    let err = |item: usize, kind: AsmErrorKind| AsmError { item, kind };

    // Pass 1: addresses and symbol values. Values that decide layout or go into an
    // `equ` are fixed where they appear: z80asm takes a later label in an `equ` as 0
    // without a word, and pasmo does too in some orders.
    let defined: HashSet<&str> = items
        .iter()
        .filter_map(|i| match i {
            Item::Label(n) | Item::Equ(n, _) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    let mut symbols = Symbols::new();
    let mut addresses = Vec::with_capacity(items.len());
    let mut addr: u32 = u32::from(origin);
    let mut start: Option<u16> = None;
    for (i, item) in items.iter().enumerate() {
        if addr > 0xFFFF && !matches!(item, Item::Comment(_) | Item::Remark(_) | Item::Blank) {
            return Err(err(i, AsmErrorKind::Overflow));
        }
        addresses.push(addr as u16);
        let here = addr as u16;
        let known = |e: &Expr, what: &'static str, symbols: &Symbols| {
            e.eval(here, symbols).map_err(|EvalError::Undefined(n)| {
                if defined.contains(n.as_str()) {
                    err(i, AsmErrorKind::NotYetKnown(what))
                } else {
                    err(i, AsmErrorKind::Undefined(n))
                }
            })
        };
        let ranged = |v: i64, lo: i64, hi: i64, what: &'static str| {
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(err(i, AsmErrorKind::Range { what, value: v }))
            }
        };
        let size: u32 = match item {
            Item::Label(name) | Item::Equ(name, _) => {
                check_name(name).map_err(|k| err(i, k))?;
                if symbols.contains_key(name) {
                    return Err(err(i, AsmErrorKind::Duplicate(name.clone())));
                }
                let v = match item {
                    Item::Equ(_, e) => {
                        let v = known(e, "equ value", &symbols)?;
                        ranged(v, i64::from(i32::MIN), i64::from(i32::MAX), "equ value")?
                    }
                    _ => i64::from(here),
                };
                symbols.insert(name.clone(), v as i32);
                0
            }
            Item::Org(e) => {
                let v = known(e, "org address", &symbols)?;
                let v = ranged(v, 0, 0xFFFF, "org address")?;
                if start.is_some() && v != i64::from(addr) {
                    return Err(err(i, AsmErrorKind::LateOrg));
                }
                addr = v as u32;
                0
            }
            Item::Inst(inst) => u32::from(inst.size()),
            Item::Db(data) => {
                if data.is_empty()
                    || data
                        .iter()
                        .any(|d| matches!(d, Data::Str(s) if s.is_empty()))
                {
                    return Err(err(i, AsmErrorKind::Empty("db")));
                }
                data.iter()
                    .map(|d| match d {
                        Data::Byte(_) => 1,
                        Data::Str(s) => s.len() as u32,
                    })
                    .sum()
            }
            Item::Dw(words) => {
                if words.is_empty() {
                    return Err(err(i, AsmErrorKind::Empty("dw")));
                }
                2 * words.len() as u32
            }
            Item::Ds(count, _) => {
                let v = known(count, "ds count", &symbols)?;
                ranged(v, 0, 0xFFFF, "ds count")? as u32
            }
            Item::Comment(_) | Item::Remark(_) | Item::Blank => 0,
        };
        if size > 0 && start.is_none() {
            start = Some(addr as u16);
        }
        addr += size;
        if addr > 0x1_0000 {
            return Err(err(i, AsmErrorKind::Overflow));
        }
    }

    // Pass 2: bytes.
    let mut bytes = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = addresses[i];
        let value = |e: &Expr| {
            e.eval(here, &symbols).map_err(|e| match e {
                EvalError::Undefined(n) => err(i, AsmErrorKind::Undefined(n)),
            })
        };
        let ranged = |e: &Expr, lo: i64, hi: i64, what: &'static str| {
            let v = value(e)?;
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(err(i, AsmErrorKind::Range { what, value: v }))
            }
        };
        match item {
            Item::Inst(inst) => {
                let code = inst.encode(here, &symbols).map_err(|e| {
                    err(
                        i,
                        match e {
                            EncodeError::Undefined(n) => AsmErrorKind::Undefined(n),
                            EncodeError::Range { what, value } => {
                                AsmErrorKind::Range { what, value }
                            }
                            EncodeError::Unportable(why) => AsmErrorKind::Unportable(why),
                        },
                    )
                })?;
                debug_assert_eq!(code.len(), usize::from(inst.size()));
                bytes.extend_from_slice(&code);
            }
            Item::Db(data) => {
                for d in data {
                    match d {
                        Data::Byte(e) => bytes.push(ranged(e, -128, 255, "byte")? as u8),
                        Data::Str(s) => bytes.extend_from_slice(s.as_bytes()),
                    }
                }
            }
            Item::Dw(words) => {
                for w in words {
                    let v = ranged(w, -32768, 65535, "word")? as u16;
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
            }
            Item::Ds(count, fill) => {
                let n = value(count)? as usize;
                let f = match fill {
                    Some(f) => ranged(f, -128, 255, "ds fill byte")? as u8,
                    None => 0,
                };
                bytes.resize(bytes.len() + n, f);
            }
            Item::Org(_)
            | Item::Equ(..)
            | Item::Label(_)
            | Item::Comment(_)
            | Item::Remark(_)
            | Item::Blank => {}
        }
    }

    Ok(Assembled {
        origin: start.unwrap_or(addr as u16),
        bytes,
        symbols,
        addresses,
    })
}
