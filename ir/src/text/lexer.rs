//! Tokens of the `.zir` format, lexed with logos.
//!
//! Logos does the raw scanning; a thin adapter then decodes integers and string
//! escapes so every lexical error carries the byte offset where it happened.

use logos::Logos;

/// An error at a byte offset of the source; turned into line/column at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Byte offset into the source.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

impl Located {
    /// An error at byte offset `at`.
    pub fn new(at: usize, message: impl Into<String>) -> Located {
        Located {
            at,
            message: message.into(),
        }
    }
}

/// What logos recognises; slices are decoded by [`Lexer`].
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
// A comment runs to the end of its line by definition.
#[logos(skip(r";[^\n]*", allow_greedy = true))]
enum Raw {
    #[token("zir")]
    Zir,
    #[token("model")]
    Model,
    #[token("encode")]
    Encode,
    #[token("decode")]
    Decode,
    #[token("input")]
    Input,
    #[token("matmul")]
    MatMul,
    #[token("dense")]
    Dense,
    #[token("sparse")]
    Sparse,
    #[token("acc")]
    Acc,
    #[token("bias")]
    Bias,
    #[token("shift")]
    Shift,
    #[token("relu")]
    Relu,
    #[token("epilogue")]
    Epilogue,
    #[token("argmax")]
    Argmax,
    #[token("index")]
    Index,
    #[token("i16")]
    I16,
    #[token("i32")]
    I32,
    #[token("=")]
    Eq,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[regex(r"%[A-Za-z0-9_]+")]
    Name,
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex(r"-?[0-9]+")]
    Int,
    #[regex(r"-?[0-9]+(\.[0-9]+([eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)")]
    Float,
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    Str,
    // Longest match prefers `Str`; this only wins when the closing quote is missing.
    #[regex(r#""([^"\\\n]|\\[^\n])*"#)]
    Unterminated,
}

/// A token as the grammar sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok<'a> {
    Zir,
    Model,
    Encode,
    Decode,
    Input,
    MatMul,
    Dense,
    Sparse,
    Acc,
    Bias,
    Shift,
    Relu,
    Epilogue,
    Argmax,
    Index,
    I16,
    I32,
    Eq,
    Comma,
    Colon,
    LBracket,
    RBracket,
    LParen,
    RParen,
    /// `%name`, with the `%`.
    Name(&'a str),
    /// A bare word that is not a keyword.
    Ident(&'a str),
    /// Wide enough for every u64 and i64 field of the IR.
    Int(i128),
    /// The decoded bytes of a string literal.
    Str(Vec<u8>),
    /// A decimal number with a fraction or exponent, as written.
    Float(&'a str),
}

impl Tok<'_> {
    /// How an unexpected token is named in error messages.
    pub fn describe(&self) -> String {
        let kw = |s: &str| format!("\"{s}\"");
        match self {
            Tok::Zir => kw("zir"),
            Tok::Model => kw("model"),
            Tok::Encode => kw("encode"),
            Tok::Decode => kw("decode"),
            Tok::Input => kw("input"),
            Tok::MatMul => kw("matmul"),
            Tok::Dense => kw("dense"),
            Tok::Sparse => kw("sparse"),
            Tok::Acc => kw("acc"),
            Tok::Bias => kw("bias"),
            Tok::Shift => kw("shift"),
            Tok::Relu => kw("relu"),
            Tok::Epilogue => kw("epilogue"),
            Tok::Argmax => kw("argmax"),
            Tok::Index => kw("index"),
            Tok::I16 => kw("i16"),
            Tok::I32 => kw("i32"),
            Tok::Eq => kw("="),
            Tok::Comma => kw(","),
            Tok::Colon => kw(":"),
            Tok::LBracket => kw("["),
            Tok::RBracket => kw("]"),
            Tok::LParen => kw("("),
            Tok::RParen => kw(")"),
            Tok::Name(s) => s.to_string(),
            Tok::Ident(s) => format!("identifier `{s}`"),
            Tok::Int(v) => format!("integer {v}"),
            Tok::Str(_) => "string".to_string(),
            Tok::Float(s) => format!("number {s}"),
        }
    }
}

/// The token stream fed to the lalrpop parser: `(start, token, end)` byte offsets.
pub struct Lexer<'a> {
    src: &'a str,
    inner: logos::Lexer<'a, Raw>,
}

impl<'a> Lexer<'a> {
    /// Lex `src` lazily.
    pub fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            src,
            inner: Raw::lexer(src),
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<(usize, Tok<'a>, usize), Located>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = self.inner.next()?;
        let span = self.inner.span();
        let slice = self.inner.slice();
        let tok = match raw {
            Err(()) => {
                let c = self.src.get(span.start..).and_then(|s| s.chars().next());
                let what = match c {
                    Some(c) => format!("unexpected character `{}`", c.escape_debug()),
                    None => "unexpected character".to_string(),
                };
                return Some(Err(Located::new(span.start, what)));
            }
            Ok(raw) => match raw {
                Raw::Zir => Tok::Zir,
                Raw::Model => Tok::Model,
                Raw::Encode => Tok::Encode,
                Raw::Decode => Tok::Decode,
                Raw::Input => Tok::Input,
                Raw::MatMul => Tok::MatMul,
                Raw::Dense => Tok::Dense,
                Raw::Sparse => Tok::Sparse,
                Raw::Acc => Tok::Acc,
                Raw::Bias => Tok::Bias,
                Raw::Shift => Tok::Shift,
                Raw::Relu => Tok::Relu,
                Raw::Epilogue => Tok::Epilogue,
                Raw::Argmax => Tok::Argmax,
                Raw::Index => Tok::Index,
                Raw::I16 => Tok::I16,
                Raw::I32 => Tok::I32,
                Raw::Eq => Tok::Eq,
                Raw::Comma => Tok::Comma,
                Raw::Colon => Tok::Colon,
                Raw::LBracket => Tok::LBracket,
                Raw::RBracket => Tok::RBracket,
                Raw::LParen => Tok::LParen,
                Raw::RParen => Tok::RParen,
                Raw::Name => Tok::Name(slice),
                Raw::Ident => Tok::Ident(slice),
                Raw::Int => match slice.parse::<i128>() {
                    Ok(v) => Tok::Int(v),
                    Err(_) => {
                        return Some(Err(Located::new(
                            span.start,
                            format!("integer {slice} is out of range"),
                        )))
                    }
                },
                Raw::Float => Tok::Float(slice),
                Raw::Str => match unescape(&slice[1..slice.len() - 1], span.start + 1) {
                    Ok(bytes) => Tok::Str(bytes),
                    Err(e) => return Some(Err(e)),
                },
                Raw::Unterminated => {
                    return Some(Err(Located::new(span.start, "unterminated string")))
                }
            },
        };
        Some(Ok((span.start, tok, span.end)))
    }
}

/// Decode the body of a string literal that starts at byte offset `base`.
fn unescape(body: &str, base: usize) -> Result<Vec<u8>, Located> {
    let b = body.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let at = base + i;
        match b.get(i + 1) {
            Some(b'"') => out.push(b'"'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'x') => {
                let hex = |j: usize| b.get(j).and_then(|&c| (c as char).to_digit(16));
                match (hex(i + 2), hex(i + 3)) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(Located::new(at, "`\\x` must be followed by two hex digits")),
                }
                i += 2;
            }
            _ => {
                let c = body[i + 1..].chars().next().unwrap_or('?');
                return Err(Located::new(
                    at,
                    format!("unknown escape `\\{}`", c.escape_debug()),
                ));
            }
        }
        i += 2;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok<'_>> {
        Lexer::new(s).map(|t| t.unwrap().1).collect()
    }

    #[test]
    fn lexes_keywords_names_and_numbers() {
        assert_eq!(
            toks("%fc1 = relu %x ; comment\n i16[3] -7 0:1 index"),
            vec![
                Tok::Name("%fc1"),
                Tok::Eq,
                Tok::Relu,
                Tok::Name("%x"),
                Tok::I16,
                Tok::LBracket,
                Tok::Int(3),
                Tok::RBracket,
                Tok::Int(-7),
                Tok::Int(0),
                Tok::Colon,
                Tok::Int(1),
                Tok::Index,
            ]
        );
    }

    #[test]
    fn decodes_string_escapes() {
        assert_eq!(
            toks(r#""a\"b\\c\x00\xFf\n\t\0""#),
            vec![Tok::Str(b"a\"b\\c\x00\xff\n\t\0".to_vec())]
        );
    }

    #[test]
    fn reports_lexical_errors_at_their_offset() {
        let err = |s: &str| Lexer::new(s).find_map(Result::err).unwrap();
        assert_eq!(err("zir $").at, 4);
        assert_eq!(err("model \"abc").message, "unterminated string");
        assert_eq!(err("model \"abc").at, 6);
        assert_eq!(err(r#"model "ab\q""#).at, 9);
        assert_eq!(err(r#""\x4""#).at, 1);
        assert_eq!(err("99999999999999999999999999999999999999999").at, 0);
    }
}
