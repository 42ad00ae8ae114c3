//! The textual form of a model (`.zir`): printer, lexer and grammar.
//!
//! Parsing runs in three stages so each error can point at the text that
//! caused it: logos lexes, the lalrpop grammar builds a syntax tree with byte
//! offsets, and `lower` checks names, values and types while building the graph.
//! The verifier runs last; its errors are mapped back to node definitions.

mod ast;
mod lexer;
mod lower;
mod printer;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused, missing_docs)]
    grammar,
    "/text/grammar.rs"
);

use crate::model::Model;
use crate::verify;
use lexer::{Located, Tok};

pub use printer::print_model;

/// Why a `.zir` text was rejected, at a 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

/// Parse and verify a `.zir` text.
pub fn parse_model(src: &str) -> Result<Model, ParseError> {
    let at = |l: Located| {
        let (line, col) = line_col(src, l.at);
        ParseError {
            line,
            col,
            message: l.message,
        }
    };
    let file = grammar::FileParser::new()
        .parse(lexer::Lexer::new(src))
        .map_err(|e| at(syntax_error(e)))?;
    let lowered = lower::lower(file, src).map_err(at)?;
    verify::verify_model(&lowered.model).map_err(|e| {
        match e.node.and_then(|n| lowered.defs.get(n.index())) {
            Some((pos, name)) => at(Located::new(*pos, format!("{name}: {}", e.message))),
            None => at(Located::new(0, e.message)),
        }
    })?;
    Ok(lowered.model)
}

type LalrpopError<'a> = lalrpop_util::ParseError<usize, Tok<'a>, Located>;

fn syntax_error(e: LalrpopError<'_>) -> Located {
    match e {
        LalrpopError::InvalidToken { location } => Located::new(location, "invalid token"),
        LalrpopError::UnrecognizedEof { location, expected } => Located::new(
            location,
            format!("unexpected end of input, {}", expected_list(&expected)),
        ),
        LalrpopError::UnrecognizedToken {
            token: (l, tok, _),
            expected,
        } => Located::new(
            l,
            format!(
                "unexpected {}, {}",
                tok.describe(),
                expected_list(&expected)
            ),
        ),
        LalrpopError::ExtraToken { token: (l, tok, _) } => Located::new(
            l,
            format!("unexpected {}, expected end of input", tok.describe()),
        ),
        LalrpopError::User { error } => error,
    }
}

/// lalrpop names terminals as quoted grammar strings; token classes read better bare.
fn expected_list(expected: &[String]) -> String {
    let names: Vec<&str> = expected
        .iter()
        .map(|s| match s.as_str() {
            "\"%name\"" => "%name",
            "\"identifier\"" => "identifier",
            "\"integer\"" => "integer",
            "\"string\"" => "string",
            other => other,
        })
        .collect();
    match names.as_slice() {
        [] => "expected nothing more".to_string(),
        [one] => format!("expected {one}"),
        many => format!("expected one of {}", many.join(", ")),
    }
}

/// 1-based line and character column of byte offset `at` (clamped to the source).
pub(crate) fn line_col(src: &str, at: usize) -> (usize, usize) {
    let bytes = &src.as_bytes()[..at.min(src.len())];
    let line_start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
    // Count characters, not bytes: skip UTF-8 continuation bytes.
    let col = 1 + bytes[line_start..]
        .iter()
        .filter(|&&b| b & 0xc0 != 0x80)
        .count();
    (line, col)
}
