//! Operand expressions: numbers, symbols, `$`, sums, and the low/high byte of a value.
//!
//! The set is deliberately small. z80asm and pasmo disagree on operator precedence
//! (pasmo binds `>>` tighter than `+` and reads `-5+x` as `-(5+x)`) and on `low`/`high`
//! (pasmo has them, z80asm silently mis-assembles them), so only shapes whose printed
//! form means the same to both are representable; see `print.rs` for that form.

use std::collections::BTreeMap;
use std::fmt;

/// Symbol values after assembly: labels (addresses) and `equ` constants.
pub type Symbols = BTreeMap<String, i32>;

/// An operand value that may refer to symbols, resolved by the assembler.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// A literal.
    Num(i32),
    /// A literal byte (0–255) written in hex in the source, and printed so.
    Hex(i32),
    /// A label or `equ` name.
    Sym(String),
    /// `$`: the address of the instruction or directive it appears in.
    Here,
    /// `a+b`.
    Add(Box<Expr>, Box<Expr>),
    /// `a-b`.
    Sub(Box<Expr>, Box<Expr>),
    /// The low byte of a value, printed `255 & e` because z80asm has no `low`.
    Low(Box<Expr>),
    /// The high byte of a 16-bit value, printed `255 & e >> 8` because z80asm has no `high`.
    High(Box<Expr>),
}

/// Why an expression has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// A symbol that is not (yet) defined.
    Undefined(String),
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Undefined(n) => write!(f, "undefined symbol `{n}`"),
        }
    }
}

impl Expr {
    /// A symbol reference, the common case for jump and call targets.
    pub fn sym(name: impl Into<String>) -> Expr {
        Expr::Sym(name.into())
    }

    /// `self+k`, or `self-|k|` for negative `k`, which is the form the parser reads back.
    pub fn offset(self, k: i32) -> Expr {
        match k {
            0 => self,
            k if k < 0 => Expr::Sub(Box::new(self), Box::new(Expr::Num(-k))),
            k => Expr::Add(Box::new(self), Box::new(Expr::Num(k))),
        }
    }

    /// `self-other`, e.g. the length of a table between two labels.
    pub fn minus(self, other: Expr) -> Expr {
        Expr::Sub(Box::new(self), Box::new(other))
    }

    /// `self+other`.
    pub fn plus(self, other: Expr) -> Expr {
        Expr::Add(Box::new(self), Box::new(other))
    }

    /// The low byte of `self`.
    pub fn low(self) -> Expr {
        Expr::Low(Box::new(self))
    }

    /// The high byte of `self`.
    pub fn high(self) -> Expr {
        Expr::High(Box::new(self))
    }

    /// The value, with `here` for `$` and `lookup` for symbols.
    ///
    /// Low and high use `(v >> 8) & 255` on the exact value, which equals what both
    /// assemblers compute for every 16-bit (signed or unsigned) `v`.
    pub fn eval_with(
        &self,
        here: u16,
        lookup: &mut dyn FnMut(&str) -> Result<i64, EvalError>,
    ) -> Result<i64, EvalError> {
        Ok(match self {
            Expr::Num(n) | Expr::Hex(n) => i64::from(*n),
            Expr::Sym(s) => lookup(s)?,
            Expr::Here => i64::from(here),
            Expr::Add(a, b) => a.eval_with(here, lookup)? + b.eval_with(here, lookup)?,
            Expr::Sub(a, b) => a.eval_with(here, lookup)? - b.eval_with(here, lookup)?,
            Expr::Low(a) => a.eval_with(here, lookup)? & 255,
            Expr::High(a) => (a.eval_with(here, lookup)? >> 8) & 255,
        })
    }

    /// The value given a finished symbol table.
    pub fn eval(&self, here: u16, symbols: &Symbols) -> Result<i64, EvalError> {
        self.eval_with(here, &mut |s| {
            symbols
                .get(s)
                .map(|v| i64::from(*v))
                .ok_or_else(|| EvalError::Undefined(s.to_string()))
        })
    }

    /// The value if it needs no symbols and no `$` (rst vectors, bit numbers).
    pub fn constant(&self) -> Option<i64> {
        if self.has_here() {
            return None;
        }
        self.eval(0, &Symbols::new()).ok()
    }

    /// Every symbol the expression refers to, in order of appearance.
    pub fn symbols(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_symbols(&mut out);
        out
    }

    fn collect_symbols<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Sym(s) => out.push(s),
            Expr::Num(_) | Expr::Hex(_) | Expr::Here => {}
            Expr::Add(a, b) | Expr::Sub(a, b) => {
                a.collect_symbols(out);
                b.collect_symbols(out);
            }
            Expr::Low(a) | Expr::High(a) => a.collect_symbols(out),
        }
    }

    fn has_here(&self) -> bool {
        match self {
            Expr::Here => true,
            Expr::Num(_) | Expr::Hex(_) | Expr::Sym(_) => false,
            Expr::Add(a, b) | Expr::Sub(a, b) => a.has_here() || b.has_here(),
            Expr::Low(a) | Expr::High(a) => a.has_here(),
        }
    }
}

impl From<i32> for Expr {
    fn from(n: i32) -> Expr {
        Expr::Num(n)
    }
}

impl From<u16> for Expr {
    fn from(n: u16) -> Expr {
        Expr::Num(i32::from(n))
    }
}

impl From<u8> for Expr {
    fn from(n: u8) -> Expr {
        Expr::Num(i32::from(n))
    }
}

impl From<i8> for Expr {
    fn from(n: i8) -> Expr {
        Expr::Num(i32::from(n))
    }
}

impl From<&str> for Expr {
    fn from(s: &str) -> Expr {
        Expr::Sym(s.to_string())
    }
}

impl From<String> for Expr {
    fn from(s: String) -> Expr {
        Expr::Sym(s)
    }
}

impl From<&String> for Expr {
    fn from(s: &String) -> Expr {
        Expr::Sym(s.clone())
    }
}
