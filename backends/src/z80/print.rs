//! The `.asm` text: Zilog syntax, lower case, in the subset z80asm 1.8 and pasmo 0.5.3
//! both assemble to the same bytes.
//!
//! What the two disagree on, and how the text avoids it:
//! - precedence: pasmo binds `>>` tighter than `+` and `&` looser, and reads `-5+x` as
//!   `-(5+x)`; so sums are printed left to right, a right operand that is itself a sum
//!   or a negative number is parenthesised (`x-(a+b)`, `x+(-5)`), and low/high bytes
//!   print as `255 & e` / `255 & e >> 8` with `e` a single term;
//! - `low`/`high`: pasmo only (z80asm emits a wrong byte without a word), hence the above;
//! - an operand that starts with `(` is a memory reference to pasmo, so an immediate
//!   that would start with one gets a leading `+` (`+(-5)+x`);
//! - `&` directly before a digit starts a hex number in pasmo, hence the spaces;
//! - `(ix+e)` with a negative `e` is an error in pasmo, so negative displacements print
//!   as `(ix-5)`;
//! - both read backslash escapes in strings, so `"`, `\` and non-printable bytes print
//!   as numbers.

use super::asm::{is_string_byte, Data, Item};
use super::expr::Expr;
use super::isa::{Idx, Index, Inst, Loc8, Mem8, Pair, Src8};
use super::mnemonics::*;
use std::fmt::{self, Write};

/// The column end-of-line comments start at, as in the runtime sources.
const REMARK_COLUMN: usize = 32;

/// The whole program, one line per item, each ending in a newline; a remark shares
/// the line of the item before it.
pub fn print(items: &[Item]) -> String {
    let mut out = String::new();
    let mut line_start = 0;
    for (k, item) in items.iter().enumerate() {
        let joins = matches!(item, Item::Remark(_))
            && k > 0
            && !matches!(
                items[k - 1],
                Item::Comment(_) | Item::Remark(_) | Item::Blank
            );
        if joins {
            out.pop(); // the previous line's newline
            pad_to_remark(&mut out, line_start);
        }
        line_start = if joins { line_start } else { out.len() };
        let _ = writeln!(out, "{item}");
    }
    out
}

/// Tabs (8 columns each) up to [`REMARK_COLUMN`], or one space past it.
fn pad_to_remark(out: &mut String, line_start: usize) {
    let mut width =
        out[line_start..]
            .chars()
            .fold(0, |w, c| if c == '\t' { w / 8 * 8 + 8 } else { w + 1 });
    if width >= REMARK_COLUMN {
        out.push(' ');
        return;
    }
    while width < REMARK_COLUMN {
        out.push('\t');
        width = width / 8 * 8 + 8;
    }
}

/// A number: decimal below 256 (bytes, counts), hex above (addresses).
fn num(n: i64) -> String {
    if n < 0 {
        format!("-{}", num(-n))
    } else if n < 256 {
        n.to_string()
    } else {
        format!("0x{n:x}")
    }
}

/// A byte the source wrote in hex: two digits.
fn hex(n: i32) -> String {
    format!("0x{n:02x}")
}

/// A whole operand expression.
fn top(e: &Expr) -> String {
    match e {
        Expr::Num(n) => num(i64::from(*n)),
        Expr::Hex(n) => hex(*n),
        Expr::Low(x) => format!("255 & {}", term(x)),
        Expr::High(x) => format!("255 & {} >> 8", term(x)),
        _ => {
            let s = sum(e);
            if s.starts_with('(') {
                format!("+{s}")
            } else {
                s
            }
        }
    }
}

/// A left-associated chain of `+` and `-`.
fn sum(e: &Expr) -> String {
    match e {
        Expr::Add(a, b) => format!("{}+{}", sum(a), term(b)),
        Expr::Sub(a, b) => format!("{}-{}", sum(a), term(b)),
        _ => term(e),
    }
}

/// One operand of a sum: anything but a plain symbol, `$` or non-negative number is
/// parenthesised.
fn term(e: &Expr) -> String {
    match e {
        Expr::Num(n) if *n >= 0 => num(i64::from(*n)),
        Expr::Num(n) => format!("({})", num(i64::from(*n))),
        Expr::Hex(n) => hex(*n),
        Expr::Sym(s) => s.clone(),
        Expr::Here => "$".to_string(),
        Expr::Add(..) | Expr::Sub(..) => format!("({})", sum(e)),
        Expr::Low(_) | Expr::High(_) => format!("({})", top(e)),
    }
}

/// The displacement part of `(ix+d)`, sign included.
fn disp(e: &Expr) -> String {
    match e {
        Expr::Num(n) if *n < 0 => num(i64::from(*n)),
        Expr::Sub(z, x) if **z == Expr::Num(0) => format!("-{}", term(x)),
        _ => format!("+{}", sum(e)),
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&top(self))
    }
}

impl fmt::Display for Idx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}{})", self.reg.name(), disp(&self.disp))
    }
}

impl fmt::Display for Loc8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc8::R(r) => f.write_str(r.name()),
            Loc8::Hl => f.write_str("(hl)"),
            Loc8::Idx(i) => i.fmt(f),
        }
    }
}

impl fmt::Display for Src8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Src8::R(r) => f.write_str(r.name()),
            Src8::Hl => f.write_str("(hl)"),
            Src8::Idx(i) => i.fmt(f),
            Src8::N(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for Mem8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mem8::Hl => f.write_str("(hl)"),
            Mem8::Idx(i) => i.fmt(f),
        }
    }
}

/// `(nn)`.
struct Mem<'a>(&'a Expr);

impl fmt::Display for Mem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})", self.0)
    }
}

fn idx_pair(x: Index, p: Pair) -> &'static str {
    match p {
        Pair::HL => x.name(),
        _ => p.name(),
    }
}

impl fmt::Display for Inst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Inst::*;
        if let Some(m) = self.bare_mnemonic() {
            return f.write_str(m);
        }
        match self {
            Ld(r, s) => write!(f, "{LD} {},{s}", r.name()),
            St(m, r) => write!(f, "{LD} {m},{}", r.name()),
            StImm(m, n) => write!(f, "{LD} {m},{n}"),
            LdAPtr(p) => write!(f, "{LD} a,({})", p.name()),
            LdPtrA(p) => write!(f, "{LD} ({}),a", p.name()),
            LdAMem(a) => write!(f, "{LD} a,{}", Mem(a)),
            LdMemA(a) => write!(f, "{LD} {},a", Mem(a)),
            LdAI => write!(f, "{LD} a,i"),
            LdAR => write!(f, "{LD} a,r"),
            LdIA => write!(f, "{LD} i,a"),
            LdRA => write!(f, "{LD} r,a"),
            Ld16(r, n) => write!(f, "{LD} {},{n}", r.name()),
            Ld16Mem(r, a) => write!(f, "{LD} {},{}", r.name(), Mem(a)),
            St16Mem(a, r) => write!(f, "{LD} {},{}", Mem(a), r.name()),
            LdSp(r) => write!(f, "{LD} sp,{}", r.name()),
            Push(r) => write!(f, "{PUSH} {}", r.name()),
            Pop(r) => write!(f, "{POP} {}", r.name()),
            ExDeHl => write!(f, "{EX} de,hl"),
            ExAf => write!(f, "{EX} af,af'"),
            ExSp(r) => write!(f, "{EX} (sp),{}", r.name()),
            Alu(op, s) if op.names_a() => write!(f, "{} a,{s}", op.name()),
            Alu(op, s) => write!(f, "{} {s}", op.name()),
            Inc(l) => write!(f, "{INC} {l}"),
            Dec(l) => write!(f, "{DEC} {l}"),
            Inc16(r) => write!(f, "{INC} {}", r.name()),
            Dec16(r) => write!(f, "{DEC} {}", r.name()),
            AddHl(p) => write!(f, "{ADD} hl,{}", p.name()),
            AdcHl(p) => write!(f, "{ADC} hl,{}", p.name()),
            SbcHl(p) => write!(f, "{SBC} hl,{}", p.name()),
            AddIdx(x, p) => write!(f, "{ADD} {},{}", x.name(), idx_pair(*x, *p)),
            Rot(op, l) => write!(f, "{} {l}", op.name()),
            Bit(b, l) => write!(f, "{BIT} {b},{l}"),
            Set(b, l) => write!(f, "{SET} {b},{l}"),
            Res(b, l) => write!(f, "{RES} {b},{l}"),
            Jp(a) => write!(f, "{JP} {a}"),
            JpCc(c, a) => write!(f, "{JP} {},{a}", c.name()),
            JpInd(r) => write!(f, "{JP} ({})", r.name()),
            Jr(t) => write!(f, "{JR} {t}"),
            JrCc(c, t) => write!(f, "{JR} {},{t}", c.name()),
            Djnz(t) => write!(f, "{DJNZ} {t}"),
            Call(a) => write!(f, "{CALL} {a}"),
            CallCc(c, a) => write!(f, "{CALL} {},{a}", c.name()),
            Ret => f.write_str(RET),
            RetCc(c) => write!(f, "{RET} {}", c.name()),
            Rst(p) => write!(f, "{RST} 0x{p:02x}"),
            Im(m) => write!(f, "{IM} {m}"),
            InA(n) => write!(f, "{IN} a,{}", Mem(n)),
            OutA(n) => write!(f, "{OUT} {},a", Mem(n)),
            InC(r) => write!(f, "{IN} {},(c)", r.name()),
            OutC(r) => write!(f, "{OUT} (c),{}", r.name()),
            _ => Ok(()), // the operand-less ones, above
        }
    }
}

impl fmt::Display for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Byte(e) => e.fmt(f),
            Data::Str(s) => {
                let mut first = true;
                let mut in_str = false;
                for &b in s.as_bytes() {
                    if is_string_byte(b) {
                        if !in_str {
                            if !first {
                                f.write_char(',')?;
                            }
                            f.write_char('"')?;
                            in_str = true;
                        }
                        f.write_char(b as char)?;
                    } else {
                        if in_str {
                            f.write_char('"')?;
                            in_str = false;
                        }
                        if !first {
                            f.write_char(',')?;
                        }
                        f.write_str(&num(i64::from(b)))?;
                    }
                    first = false;
                }
                if in_str {
                    f.write_char('"')?;
                }
                Ok(())
            }
        }
    }
}

fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, xs: &[T]) -> fmt::Result {
    for (i, x) in xs.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        x.fmt(f)?;
    }
    Ok(())
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Label(n) => write!(f, "{n}:"),
            Item::Inst(i) => write!(f, "\t{i}"),
            Item::Org(e) => write!(f, "\torg {e}"),
            Item::Db(d) => {
                f.write_str("\tdb ")?;
                list(f, d)
            }
            Item::Dw(w) => {
                f.write_str("\tdw ")?;
                list(f, w)
            }
            Item::Ds(n, None) => write!(f, "\tds {n}"),
            Item::Ds(n, Some(fill)) => write!(f, "\tds {n},{fill}"),
            Item::Equ(n, e) => write!(f, "{n}: equ {e}"),
            Item::Comment(c) | Item::Remark(c) if c.is_empty() => f.write_str(";"),
            Item::Comment(c) | Item::Remark(c) => {
                // One line per item, whatever the text holds.
                let c: String = c
                    .chars()
                    .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
                    .collect();
                write!(f, "; {c}")
            }
            Item::Blank => Ok(()),
        }
    }
}
