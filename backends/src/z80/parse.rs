//! Reads `.asm` text in the syntax `print` writes back into items, so hand-written
//! runtime sources join generated code as typed [`Item`]s.
//!
//! Mnemonics, registers and directives are case-insensitive; symbols are not (neither
//! assembler folds them). Beyond the printed form it takes what a person writes and
//! both assemblers read alike: labels sharing a line with an instruction, trailing
//! comments (they become an [`Item::Remark`] after the line's item), `0x12`/`12h`/`$12`
//! hex, `%101` binary, `'c'` characters. Expressions whose meaning differs between
//! z80asm and pasmo are errors with a hint instead.

use super::asm::{is_reserved, Data, Item};
use super::expr::Expr;
use super::isa::{
    AluOp, BcDe, Cond, HlIx, Idx, Index, Inst, JrCond, Loc8, Mem8, Pair, Reg16, Reg8, RotOp, Src8,
    StackReg,
};
use super::mnemonics::*;

/// A syntax error at a 1-based line and column (columns count characters): the
/// same error `.zir` texts give.
pub use zlmc_ir::text::ParseError;

/// Parses a whole program.
pub fn parse(text: &str) -> Result<Vec<Item>, ParseError> {
    let mut items = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        parse_line(line, &mut items).map_err(|(col, message)| ParseError {
            line: n + 1,
            col,
            message,
        })?;
    }
    Ok(items)
}

type Res<T> = Result<T, (usize, String)>;

fn fail<T>(col: usize, message: impl Into<String>) -> Res<T> {
    Err((col, message.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum T {
    Ident(String),
    Num(i64),
    Str(String),
    Comma,
    LParen,
    RParen,
    Plus,
    Minus,
    Amp,
    Shr,
    Colon,
    Dollar,
}

#[derive(Debug, Clone)]
struct Tok {
    t: T,
    col: usize,
    /// A number written in hex, which prints back in hex.
    hex: bool,
}

/// The tokens of a line and its comment, if any.
fn lex(line: &str) -> Res<(Vec<Tok>, Option<String>)> {
    let cs: Vec<char> = line.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        let col = i + 1;
        let single = |t| Tok { t, col, hex: false };
        match c {
            ' ' | '\t' => {
                i += 1;
                continue;
            }
            ';' => {
                let rest: String = cs[i + 1..].iter().collect();
                let rest = rest.strip_prefix(' ').unwrap_or(&rest).to_string();
                return Ok((toks, Some(rest)));
            }
            ',' => toks.push(single(T::Comma)),
            '(' => toks.push(single(T::LParen)),
            ')' => toks.push(single(T::RParen)),
            '+' => toks.push(single(T::Plus)),
            '-' => toks.push(single(T::Minus)),
            '&' => toks.push(single(T::Amp)),
            ':' => toks.push(single(T::Colon)),
            '>' => {
                if cs.get(i + 1) != Some(&'>') {
                    return fail(col, "expected `>>`");
                }
                toks.push(single(T::Shr));
                i += 2;
                continue;
            }
            '$' => {
                let mut j = i + 1;
                while j < cs.len() && cs[j].is_ascii_alphanumeric() {
                    j += 1;
                }
                if j == i + 1 {
                    toks.push(single(T::Dollar));
                } else {
                    let digits: String = cs[i + 1..j].iter().collect();
                    let v = i64::from_str_radix(&digits, 16)
                        .map_err(|_| (col, format!("bad hex number `${digits}`")))?;
                    toks.push(Tok {
                        t: T::Num(v),
                        col,
                        hex: true,
                    });
                }
                i = j;
                continue;
            }
            '%' => {
                let mut j = i + 1;
                while j < cs.len() && cs[j].is_ascii_alphanumeric() {
                    j += 1;
                }
                let digits: String = cs[i + 1..j].iter().collect();
                let v = i64::from_str_radix(&digits, 2)
                    .map_err(|_| (col, format!("bad binary number `%{digits}`")))?;
                toks.push(single(T::Num(v)));
                i = j;
                continue;
            }
            '"' | '\'' => {
                let Some(len) = cs[i + 1..].iter().position(|&x| x == c) else {
                    return fail(col, "unterminated string");
                };
                let s: String = cs[i + 1..i + 1 + len].iter().collect();
                if !s.is_ascii() {
                    return fail(col, "strings must be ASCII (write other bytes as numbers)");
                }
                if let Some(k) = s.find('\\') {
                    return fail(
                        col + 1 + k,
                        "the assemblers read `\\` as an escape; write the byte as a number (92)",
                    );
                }
                let t = if c == '\'' && s.len() == 1 {
                    T::Num(i64::from(s.as_bytes()[0]))
                } else {
                    T::Str(s)
                };
                toks.push(single(t));
                i += len + 2;
                continue;
            }
            c if c.is_ascii_digit() => {
                let mut j = i;
                while j < cs.len() && (cs[j].is_ascii_alphanumeric() || cs[j] == '_') {
                    j += 1;
                }
                let word: String = cs[i..j].iter().collect();
                let (v, hex) =
                    number(&word).ok_or_else(|| (col, format!("bad number `{word}`")))?;
                toks.push(Tok {
                    t: T::Num(v),
                    col,
                    hex,
                });
                i = j;
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut j = i;
                while j < cs.len() && (cs[j].is_ascii_alphanumeric() || cs[j] == '_') {
                    j += 1;
                }
                let mut word: String = cs[i..j].iter().collect();
                if word.eq_ignore_ascii_case("af") && cs.get(j) == Some(&'\'') {
                    word.push('\'');
                    j += 1;
                }
                toks.push(single(T::Ident(word)));
                i = j;
                continue;
            }
            c => return fail(col, format!("unexpected character `{c}`")),
        }
        i += 1;
    }
    Ok((toks, None))
}

/// A number's value, and whether it is written in hex.
fn number(word: &str) -> Option<(i64, bool)> {
    let w = word.to_ascii_lowercase();
    if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_suffix('h')) {
        Some((i64::from_str_radix(h, 16).ok()?, true))
    } else {
        Some((w.parse().ok()?, false))
    }
}

fn parse_line(line: &str, items: &mut Vec<Item>) -> Res<()> {
    let (toks, comment) = lex(line)?;
    let mut rest = &toks[..];
    if let [Tok {
        t: T::Ident(name),
        col,
        ..
    }, Tok { t: T::Colon, .. }, tail @ ..] = rest
    {
        check_symbol(name, *col)?;
        if let [Tok {
            t: T::Ident(kw),
            col: kwcol,
            ..
        }, value @ ..] = tail
        {
            if kw.eq_ignore_ascii_case("equ") {
                let e = expr(value, *kwcol + 3)?;
                items.push(Item::Equ(name.clone(), e));
                push_comment(items, comment);
                return Ok(());
            }
        }
        items.push(Item::Label(name.clone()));
        rest = tail;
    }
    match rest {
        [] if toks.is_empty() => items.push(match comment {
            Some(c) => Item::Comment(c),
            None => Item::Blank,
        }),
        [] => push_comment(items, comment),
        [Tok {
            t: T::Ident(m),
            col,
            ..
        }, ops @ ..] => {
            items.push(statement(&m.to_ascii_lowercase(), *col, ops)?);
            push_comment(items, comment);
        }
        [t, ..] => return fail(t.col, "expected a label, mnemonic or directive"),
    }
    Ok(())
}

/// A comment after a line's item stays on that item's line.
fn push_comment(items: &mut Vec<Item>, comment: Option<String>) {
    if let Some(c) = comment {
        items.push(Item::Remark(c));
    }
}

fn check_symbol(name: &str, col: usize) -> Res<()> {
    if is_reserved(name) || name.contains('\'') {
        fail(col, format!("`{name}` is reserved by z80asm or pasmo"))
    } else {
        Ok(())
    }
}

/// An operand, classified by shape before the mnemonic gives it meaning.
#[derive(Debug, Clone)]
enum Opd {
    /// A register or condition name, lower-cased.
    Reg(String),
    /// `(hl)`, `(bc)`, `(de)`, `(sp)`, `(c)`, `(ix)`, `(iy)`.
    Ind(String),
    /// `(ix+d)`.
    Idx(Idx),
    /// `(nn)`.
    Mem(Expr),
    /// A value.
    Imm(Expr),
    /// A string (only `db` takes it).
    Str(String),
}

const REGS: &[&str] = &[
    "a", "b", "c", "d", "e", "h", "l", "i", "r", "af", "af'", "bc", "de", "hl", "sp", "ix", "iy",
    "nz", "z", "nc", "po", "pe", "p", "m",
];

fn reg_name(t: &Tok) -> Option<String> {
    match &t.t {
        T::Ident(s) => {
            let l = s.to_ascii_lowercase();
            REGS.contains(&l.as_str()).then_some(l)
        }
        _ => None,
    }
}

fn split_operands(toks: &[Tok]) -> Res<Vec<(usize, &[Tok])>> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t.t {
            T::LParen => depth += 1,
            T::RParen => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| (t.col, "unmatched `)`".to_string()))?;
            }
            T::Comma if depth == 0 => {
                if i == start {
                    return fail(t.col, "missing operand");
                }
                out.push((toks[start].col, &toks[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return fail(toks[start].col, "unmatched `(`");
    }
    if start < toks.len() {
        out.push((toks[start].col, &toks[start..]));
    } else if !toks.is_empty() {
        return fail(toks[toks.len() - 1].col, "missing operand");
    }
    Ok(out)
}

/// The index of the `)` closing the `(` at `open`.
fn closing(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t.t {
            T::LParen => depth += 1,
            T::RParen => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

fn operand(col: usize, toks: &[Tok]) -> Res<Opd> {
    if let [t] = toks {
        if let Some(r) = reg_name(t) {
            return Ok(Opd::Reg(r));
        }
        if let T::Str(s) = &t.t {
            return Ok(Opd::Str(s.clone()));
        }
    }
    if matches!(toks[0].t, T::LParen) {
        if closing(toks, 0) != toks.len() - 1 {
            return fail(
                col,
                "pasmo reads an operand starting with `(` as memory; start an immediate with `+`",
            );
        }
        let inner = &toks[1..toks.len() - 1];
        if inner.is_empty() {
            return fail(col, "empty parentheses");
        }
        if let Some(r) = reg_name(&inner[0]) {
            let index = match r.as_str() {
                "ix" => Some(Index::IX),
                "iy" => Some(Index::IY),
                _ => None,
            };
            if inner.len() == 1 {
                if matches!(r.as_str(), "hl" | "bc" | "de" | "sp" | "c" | "ix" | "iy") {
                    return Ok(Opd::Ind(r));
                }
                return fail(inner[0].col, format!("`({r})` is not an operand"));
            }
            let Some(reg) = index else {
                return fail(inner[0].col, format!("`{r}` cannot be offset"));
            };
            return Ok(Opd::Idx(Idx {
                reg,
                disp: displacement(&inner[1..], inner[0].col + 2)?,
            }));
        }
        return Ok(Opd::Mem(expr(inner, inner[0].col)?));
    }
    Ok(Opd::Imm(expr(toks, col)?))
}

/// The sum after a leading `+`, which must not be empty.
fn signed_sum(rest: &[Tok], plus_col: usize, what: &str) -> Res<Expr> {
    if rest.is_empty() {
        return fail(plus_col, format!("expected {what}"));
    }
    sum(rest)
}

/// Why `(ix-` takes one term.
const AFTER_IX_MINUS: &str = "after `(ix-` write one term; pasmo and z80asm group more differently";

/// Why a leading `-` takes one term.
const LEADING_MINUS: &str = "pasmo reads `-a+b` as `-(a+b)`; write `b-a` or `+(-a)+b`";

/// `-t` for the one term `rest` must hold after a `-` at `minus_col`; otherwise
/// `message` at the extra tokens (`at_extra`) or at the `-`.
fn negated_term(rest: &[Tok], minus_col: usize, at_extra: bool, message: &str) -> Res<Expr> {
    let (e, n) = term(rest, minus_col + 1)?;
    if n != rest.len() {
        return fail(if at_extra { rest[n].col } else { minus_col }, message);
    }
    Ok(negated(e))
}

/// `-e`: a negative literal, or `0-e`.
fn negated(e: Expr) -> Expr {
    match e {
        Expr::Num(v) => Expr::Num(-v),
        e => Expr::Sub(Box::new(Expr::Num(0)), Box::new(e)),
    }
}

/// The `+d` / `-d` after `(ix`.
fn displacement(toks: &[Tok], col: usize) -> Res<Expr> {
    match toks {
        [Tok {
            t: T::Plus, col, ..
        }, rest @ ..] => signed_sum(rest, *col, "a displacement"),
        [Tok {
            t: T::Minus, col, ..
        }, rest @ ..] => negated_term(rest, *col, true, AFTER_IX_MINUS),
        [t, ..] => fail(t.col, "expected `+` or `-`"),
        [] => fail(col, "expected `+` or `-`"),
    }
}

/// A whole expression operand.
fn expr(toks: &[Tok], col: usize) -> Res<Expr> {
    if toks.is_empty() {
        return fail(col, "expected a value");
    }
    // `255 & e`, `255 & e >> 8`, `e & 255`, `e >> 8 & 255`: the low/high byte forms.
    if let Some(amp) = top_level(toks, |t| *t == T::Amp) {
        let (left, right) = (&toks[..amp], &toks[amp + 1..]);
        let is_255 = |side: &[Tok]| matches!(side, [Tok { t: T::Num(255), .. }]);
        let operand = if is_255(left) {
            right
        } else if is_255(right) {
            left
        } else {
            return fail(
                toks[amp].col,
                "`&` is only portable as `255 & e` (low byte) or `255 & e >> 8` (high byte)",
            );
        };
        if operand.is_empty() {
            return fail(toks[amp].col, "expected a value beside `&`");
        }
        let (e, n) = term(operand, operand[0].col)?;
        return match &operand[n..] {
            [] => Ok(Expr::Low(Box::new(e))),
            [Tok { t: T::Shr, .. }, Tok { t: T::Num(8), .. }] => Ok(Expr::High(Box::new(e))),
            [t, ..] => fail(
                t.col,
                "beside `&` write one term (parenthesise sums), optionally `>> 8`",
            ),
        };
    }
    if let Some(shr) = top_level(toks, |t| *t == T::Shr) {
        return fail(
            toks[shr].col,
            "`>>` is only portable as `255 & e >> 8` (pasmo binds it tighter than `+`)",
        );
    }
    match toks {
        [Tok {
            t: T::Minus, col, ..
        }, rest @ ..] => negated_term(rest, *col, false, LEADING_MINUS),
        [Tok {
            t: T::Plus, col, ..
        }, rest @ ..] => signed_sum(rest, *col, "a value"),
        _ => sum(toks),
    }
}

/// The position of the first token matching `f` outside parentheses.
fn top_level(toks: &[Tok], f: impl Fn(&T) -> bool) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        match t.t {
            T::LParen => depth += 1,
            T::RParen => depth -= 1,
            ref x if depth == 0 && f(x) => return Some(i),
            _ => {}
        }
    }
    None
}

/// `term (('+'|'-') term)*`, all of `toks`.
fn sum(toks: &[Tok]) -> Res<Expr> {
    let (mut e, mut i) = term(toks, toks[0].col)?;
    while i < toks.len() {
        let op = &toks[i];
        let (rhs, n) = term(&toks[i + 1..], op.col + 1)?;
        e = match op.t {
            T::Plus => Expr::Add(Box::new(e), Box::new(rhs)),
            T::Minus => Expr::Sub(Box::new(e), Box::new(rhs)),
            _ => return fail(op.col, "expected `+`, `-` or the end of the operand"),
        };
        i += 1 + n;
    }
    Ok(e)
}

/// One term at the start of `toks` and the number of tokens it took.
fn term(toks: &[Tok], col: usize) -> Res<(Expr, usize)> {
    let Some(t) = toks.first() else {
        return fail(col, "expected a value");
    };
    match &t.t {
        T::Num(n) => Ok((lit(*n, t.hex, t.col)?, 1)),
        T::Dollar => Ok((Expr::Here, 1)),
        T::Ident(s) => {
            if reg_name(t).is_some() || is_reserved(s) {
                return fail(t.col, format!("`{s}` is a reserved word, not a value"));
            }
            Ok((Expr::Sym(s.clone()), 1))
        }
        T::LParen => {
            let close = closing(toks, 0);
            if close >= toks.len() {
                return fail(t.col, "unmatched `(`");
            }
            let inner = &toks[1..close];
            let e = match inner {
                [Tok { t: T::Minus, .. }, Tok {
                    t: T::Num(n), col, ..
                }] => lit(-n, false, *col)?,
                _ => expr(inner, t.col + 1)?,
            };
            Ok((e, close + 1))
        }
        T::Minus => fail(
            t.col,
            "a negative number inside a sum must be parenthesised: `x+(-5)`",
        ),
        _ => fail(t.col, "expected a value"),
    }
}

/// A literal; a byte written in hex stays hex (larger numbers print in hex anyway).
fn lit(n: i64, hex: bool, col: usize) -> Res<Expr> {
    let v = i32::try_from(n).map_err(|_| (col, format!("number {n} is too large")))?;
    Ok(if hex && (0..256).contains(&v) {
        Expr::Hex(v)
    } else {
        Expr::Num(v)
    })
}

fn want(ops: &[(usize, &[Tok])], n: usize, col: usize, m: &str) -> Res<Vec<(usize, Opd)>> {
    if ops.len() != n {
        return fail(
            col,
            format!(
                "`{m}` takes {n} operand{}, not {}",
                if n == 1 { "" } else { "s" },
                ops.len()
            ),
        );
    }
    ops.iter().map(|(c, t)| Ok((*c, operand(*c, t)?))).collect()
}

fn reg8(o: &Opd) -> Option<Reg8> {
    match o {
        Opd::Reg(r) => Some(match r.as_str() {
            "a" => Reg8::A,
            "b" => Reg8::B,
            "c" => Reg8::C,
            "d" => Reg8::D,
            "e" => Reg8::E,
            "h" => Reg8::H,
            "l" => Reg8::L,
            _ => return None,
        }),
        _ => None,
    }
}

fn is_reg(o: &Opd, name: &str) -> bool {
    matches!(o, Opd::Reg(r) if r == name)
}

fn mem8(o: &Opd) -> Option<Mem8> {
    match o {
        Opd::Ind(r) if r == "hl" => Some(Mem8::Hl),
        Opd::Ind(r) if r == "ix" => Some(Mem8::Idx(Idx::ix(0))),
        Opd::Ind(r) if r == "iy" => Some(Mem8::Idx(Idx::iy(0))),
        Opd::Idx(i) => Some(Mem8::Idx(i.clone())),
        _ => None,
    }
}

fn loc8(o: &Opd) -> Option<Loc8> {
    reg8(o).map(Loc8::R).or_else(|| mem8(o).map(Loc8::from))
}

fn src8(o: &Opd) -> Option<Src8> {
    match (reg8(o), mem8(o), o) {
        (Some(r), _, _) => Some(Src8::R(r)),
        (_, Some(Mem8::Hl), _) => Some(Src8::Hl),
        (_, Some(Mem8::Idx(i)), _) => Some(Src8::Idx(i)),
        (_, _, Opd::Imm(e)) => Some(Src8::N(e.clone())),
        _ => None,
    }
}

/// The one of `all` a register operand names.
fn named<T: Copy>(o: &Opd, all: &[T], name: fn(T) -> &'static str) -> Option<T> {
    match o {
        Opd::Reg(r) => all.iter().copied().find(|&x| name(x) == r),
        _ => None,
    }
}

fn reg16(o: &Opd) -> Option<Reg16> {
    named(o, &Reg16::ALL, Reg16::name)
}

fn pair(o: &Opd) -> Option<Pair> {
    named(o, &Pair::ALL, Pair::name)
}

fn hlix(name: &str) -> Option<HlIx> {
    HlIx::ALL.into_iter().find(|x| x.name() == name)
}

fn cond(o: &Opd) -> Option<Cond> {
    named(o, &Cond::ALL, Cond::name)
}

fn imm(o: &Opd) -> Option<Expr> {
    match o {
        Opd::Imm(e) => Some(e.clone()),
        _ => None,
    }
}

/// A constant operand (bit number, rst vector, interrupt mode) in `range`.
fn constant(o: &(usize, Opd), ok: impl Fn(i64) -> bool, what: &str) -> Res<u8> {
    match &o.1 {
        Opd::Imm(e) => match e.constant() {
            Some(v) if ok(v) => Ok(v as u8),
            Some(v) => fail(o.0, format!("{v} is not a valid {what}")),
            None => fail(o.0, format!("the {what} must be a number")),
        },
        _ => fail(o.0, format!("expected a {what}")),
    }
}

fn statement(m: &str, col: usize, toks: &[Tok]) -> Res<Item> {
    let ops = split_operands(toks)?;
    let bad = |c: usize| -> Res<Item> { fail(c, format!("invalid operands for `{m}`")) };
    let first_col = ops.first().map_or(col, |o| o.0);
    let simple = Inst::BARE
        .iter()
        .find(|i| i.bare_mnemonic() == Some(m))
        .cloned();
    if let Some(i) = simple {
        want(&ops, 0, col, m)?;
        return Ok(Item::Inst(i));
    }
    let inst = match m {
        "org" => return Ok(Item::Org(one_expr(&ops, col, m)?)),
        "equ" => return fail(col, "`equ` needs a name: `name: equ value`"),
        "db" => {
            let data = list_operands(&ops, col, m, |c, o| match o {
                Opd::Str(s) if s.is_empty() => fail(c, "empty string"),
                Opd::Str(s) => Ok(Data::Str(s)),
                Opd::Imm(e) => Ok(Data::Byte(e)),
                _ => fail(c, "expected a byte or a string"),
            })?;
            return Ok(Item::Db(data));
        }
        "dw" => {
            let words = list_operands(&ops, col, m, |c, o| match o {
                Opd::Imm(e) => Ok(e),
                _ => fail(c, "expected a word"),
            })?;
            return Ok(Item::Dw(words));
        }
        "ds" => {
            let mut vals: Vec<Expr> = ops
                .iter()
                .map(|(c, t)| match operand(*c, t)? {
                    Opd::Imm(e) => Ok(e),
                    _ => fail(*c, "expected a value"),
                })
                .collect::<Res<_>>()?;
            if !(1..=2).contains(&vals.len()) {
                return fail(col, "`ds` takes a count and an optional fill byte");
            }
            let fill = if vals.len() == 2 { vals.pop() } else { None };
            return Ok(Item::Ds(vals.remove(0), fill));
        }
        LD => {
            let o = want(&ops, 2, col, m)?;
            let (d, s) = (&o[0].1, &o[1].1);
            let pointer = |o: &Opd| match o {
                Opd::Ind(r) if r == "bc" => Some(BcDe::BC),
                Opd::Ind(r) if r == "de" => Some(BcDe::DE),
                _ => None,
            };
            if is_reg(d, "a") && is_reg(s, "i") {
                Inst::LdAI
            } else if is_reg(d, "a") && is_reg(s, "r") {
                Inst::LdAR
            } else if is_reg(d, "i") && is_reg(s, "a") {
                Inst::LdIA
            } else if is_reg(d, "r") && is_reg(s, "a") {
                Inst::LdRA
            } else if let (Some(r), Some(s)) = (reg8(d), src8(s)) {
                Inst::Ld(r, s)
            } else if let (true, Some(p)) = (is_reg(d, "a"), pointer(s)) {
                Inst::LdAPtr(p)
            } else if let (Some(p), true) = (pointer(d), is_reg(s, "a")) {
                Inst::LdPtrA(p)
            } else if let (true, Opd::Mem(a)) = (is_reg(d, "a"), s) {
                Inst::LdAMem(a.clone())
            } else if let (Opd::Mem(a), true) = (d, is_reg(s, "a")) {
                Inst::LdMemA(a.clone())
            } else if let (Some(md), Some(r)) = (mem8(d), reg8(s)) {
                Inst::St(md, r)
            } else if let (Some(md), Some(n)) = (mem8(d), imm(s)) {
                Inst::StImm(md, n)
            } else if let (true, Opd::Reg(r)) = (is_reg(d, "sp"), s) {
                match hlix(r) {
                    Some(x) => Inst::LdSp(x),
                    None => return bad(o[1].0),
                }
            } else if let (Some(r), Some(n)) = (reg16(d), imm(s)) {
                Inst::Ld16(r, n)
            } else if let (Some(r), Opd::Mem(a)) = (reg16(d), s) {
                Inst::Ld16Mem(r, a.clone())
            } else if let (Opd::Mem(a), Some(r)) = (d, reg16(s)) {
                Inst::St16Mem(a.clone(), r)
            } else {
                return bad(first_col);
            }
        }
        PUSH | POP => {
            let o = want(&ops, 1, col, m)?;
            let r = named(&o[0].1, &StackReg::ALL, StackReg::name);
            match (r, m) {
                (Some(r), PUSH) => Inst::Push(r),
                (Some(r), _) => Inst::Pop(r),
                (None, _) => return bad(o[0].0),
            }
        }
        EX => {
            let o = want(&ops, 2, col, m)?;
            match (&o[0].1, &o[1].1) {
                (Opd::Reg(a), Opd::Reg(b)) if a == "de" && b == "hl" => Inst::ExDeHl,
                (Opd::Reg(a), Opd::Reg(b)) if a == "af" && b == "af'" => Inst::ExAf,
                (Opd::Ind(a), Opd::Reg(b)) if a == "sp" => match hlix(b) {
                    Some(x) => Inst::ExSp(x),
                    None => return bad(o[1].0),
                },
                _ => return bad(first_col),
            }
        }
        ADD | ADC | SBC => {
            let o = want(&ops, 2, col, m)?;
            let (d, s) = (&o[0].1, &o[1].1);
            let op = match m {
                ADD => AluOp::Add,
                ADC => AluOp::Adc,
                _ => AluOp::Sbc,
            };
            if is_reg(d, "a") {
                match src8(s) {
                    Some(s) => Inst::Alu(op, s),
                    None => return bad(o[1].0),
                }
            } else if is_reg(d, "hl") {
                match (pair(s), op) {
                    (Some(p), AluOp::Add) => Inst::AddHl(p),
                    (Some(p), AluOp::Adc) => Inst::AdcHl(p),
                    (Some(p), _) => Inst::SbcHl(p),
                    (None, _) => return bad(o[1].0),
                }
            } else if let (Opd::Reg(x), AluOp::Add) = (d, op) {
                let x = match x.as_str() {
                    "ix" => Index::IX,
                    "iy" => Index::IY,
                    _ => return bad(o[0].0),
                };
                let p = match s {
                    Opd::Reg(r) if r == x.name() => Pair::HL,
                    Opd::Reg(r) if r == "hl" => return bad(o[1].0),
                    _ => match pair(s) {
                        Some(p) => p,
                        None => return bad(o[1].0),
                    },
                };
                Inst::AddIdx(x, p)
            } else {
                return bad(o[0].0);
            }
        }
        SUB | AND | XOR | OR | CP => {
            let op = AluOp::ALL
                .into_iter()
                .find(|x| x.name() == m)
                .unwrap_or(AluOp::Cp);
            if ops.len() == 2 {
                return fail(
                    col,
                    format!("write `{m} x`, not `{m} a,x` (the form both assemblers take)"),
                );
            }
            let o = want(&ops, 1, col, m)?;
            match src8(&o[0].1) {
                Some(s) => Inst::Alu(op, s),
                None => return bad(o[0].0),
            }
        }
        INC | DEC => {
            let o = want(&ops, 1, col, m)?;
            let inc = m == INC;
            if let Some(r) = reg16(&o[0].1) {
                if inc {
                    Inst::Inc16(r)
                } else {
                    Inst::Dec16(r)
                }
            } else if let Some(l) = loc8(&o[0].1) {
                if inc {
                    Inst::Inc(l)
                } else {
                    Inst::Dec(l)
                }
            } else {
                return bad(o[0].0);
            }
        }
        RLC | RRC | RL | RR | SLA | SRA | SRL => {
            let op = RotOp::ALL
                .into_iter()
                .find(|x| x.name() == m)
                .unwrap_or(RotOp::Rlc);
            let o = want(&ops, 1, col, m)?;
            match loc8(&o[0].1) {
                Some(l) => Inst::Rot(op, l),
                None => return bad(o[0].0),
            }
        }
        BIT | SET | RES => {
            let o = want(&ops, 2, col, m)?;
            let b = constant(&o[0], |v| (0..=7).contains(&v), "bit number")?;
            let Some(l) = loc8(&o[1].1) else {
                return bad(o[1].0);
            };
            match m {
                BIT => Inst::Bit(b, l),
                SET => Inst::Set(b, l),
                _ => Inst::Res(b, l),
            }
        }
        JP | CALL => {
            let jp = m == JP;
            match ops.len() {
                1 => {
                    let o = want(&ops, 1, col, m)?;
                    match &o[0].1 {
                        Opd::Imm(e) if jp => Inst::Jp(e.clone()),
                        Opd::Imm(e) => Inst::Call(e.clone()),
                        Opd::Ind(r) if jp => match hlix(r) {
                            Some(x) => Inst::JpInd(x),
                            None => return bad(o[0].0),
                        },
                        _ => return bad(o[0].0),
                    }
                }
                _ => {
                    let o = want(&ops, 2, col, m)?;
                    let Some(c) = cond(&o[0].1) else {
                        return fail(o[0].0, "expected a condition");
                    };
                    let Some(e) = imm(&o[1].1) else {
                        return bad(o[1].0);
                    };
                    if jp {
                        Inst::JpCc(c, e)
                    } else {
                        Inst::CallCc(c, e)
                    }
                }
            }
        }
        JR => match ops.len() {
            1 => {
                let o = want(&ops, 1, col, m)?;
                match imm(&o[0].1) {
                    Some(e) => Inst::Jr(e),
                    None => return bad(o[0].0),
                }
            }
            _ => {
                let o = want(&ops, 2, col, m)?;
                let c = named(&o[0].1, &JrCond::ALL, JrCond::name);
                let Some(c) = c else {
                    return fail(o[0].0, "`jr` takes only nz, z, nc or c");
                };
                match imm(&o[1].1) {
                    Some(e) => Inst::JrCc(c, e),
                    None => return bad(o[1].0),
                }
            }
        },
        DJNZ => Inst::Djnz(one_expr(&ops, col, m)?),
        RET => match ops.len() {
            0 => Inst::Ret,
            _ => {
                let o = want(&ops, 1, col, m)?;
                match cond(&o[0].1) {
                    Some(c) => Inst::RetCc(c),
                    None => return fail(o[0].0, "expected a condition"),
                }
            }
        },
        RST => {
            let o = want(&ops, 1, col, m)?;
            Inst::Rst(constant(
                &o[0],
                |v| (0..=0x38).contains(&v) && v % 8 == 0,
                "rst vector",
            )?)
        }
        IM => {
            let o = want(&ops, 1, col, m)?;
            Inst::Im(constant(&o[0], |v| (0..=2).contains(&v), "interrupt mode")?)
        }
        IN => {
            let o = want(&ops, 2, col, m)?;
            match (&o[0].1, &o[1].1) {
                (d, Opd::Mem(n)) if is_reg(d, "a") => Inst::InA(n.clone()),
                (d, Opd::Ind(c)) if c == "c" => match reg8(d) {
                    Some(r) => Inst::InC(r),
                    None => return bad(o[0].0),
                },
                _ => return bad(first_col),
            }
        }
        OUT => {
            let o = want(&ops, 2, col, m)?;
            match (&o[0].1, &o[1].1) {
                (Opd::Mem(n), s) if is_reg(s, "a") => Inst::OutA(n.clone()),
                (Opd::Ind(c), s) if c == "c" => match reg8(s) {
                    Some(r) => Inst::OutC(r),
                    None => return bad(o[1].0),
                },
                _ => return bad(first_col),
            }
        }
        _ => return fail(col, format!("unknown mnemonic or directive `{m}`")),
    };
    Ok(Item::Inst(inst))
}

/// The operands of `db`/`dw`, at least one, each through `item`.
fn list_operands<T>(
    ops: &[(usize, &[Tok])],
    col: usize,
    m: &str,
    item: impl Fn(usize, Opd) -> Res<T>,
) -> Res<Vec<T>> {
    if ops.is_empty() {
        return fail(col, format!("`{m}` needs operands"));
    }
    ops.iter().map(|(c, t)| item(*c, operand(*c, t)?)).collect()
}

fn one_expr(ops: &[(usize, &[Tok])], col: usize, m: &str) -> Res<Expr> {
    let o = want(ops, 1, col, m)?;
    match &o[0].1 {
        Opd::Imm(e) => Ok(e.clone()),
        _ => fail(o[0].0, format!("`{m}` takes a value")),
    }
}
