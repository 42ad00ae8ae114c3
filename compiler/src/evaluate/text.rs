//! Scoring a character model on z80ai training text (`query|reply` lines).
//!
//! * exact-reply rate: the generated reply (`zlmc run --prompt QUERY`) equals
//!   the line's reply, ignoring ASCII case (z80ai's charsets hold one case
//!   of each letter, and a few training replies use the other);
//! * next-character accuracy (teacher-forced): for every line and every reply
//!   position `i` — the reply's characters and then the end of sequence, as
//!   long as `i < max_length` — the model is given the query and the *true*
//!   reply prefix as context, and its predicted class is compared with the
//!   true character (or end-of-sequence) at `i`.

use std::io::Read;
use std::path::Path;

use zlmc_ir::{interp, Model};

use crate::diag::{Diagnostic, Result};

/// One training line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The query.
    pub query: Vec<u8>,
    /// The expected reply.
    pub reply: Vec<u8>,
}

/// Read `query|reply` lines from `.txt` or `.txt.gz`; `#` lines and blank lines are skipped.
pub fn read_lines(path: &Path) -> Result<Vec<Line>> {
    let raw = std::fs::read(path)
        .map_err(|e| Diagnostic::in_file(path, format!("cannot read data: {e}")))?;
    let bytes = if path.to_string_lossy().ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Diagnostic::in_file(path, format!("not a gzip file: {e}")))?;
        out
    } else {
        raw
    };
    let mut lines = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) || line.first() == Some(&b'#') {
            continue;
        }
        let Some(bar) = line.iter().position(|&b| b == b'|') else {
            return Err(Diagnostic::in_file(path, "expected `query|reply`").at(Some((n + 1, 1))));
        };
        lines.push(Line {
            query: line[..bar].to_vec(),
            reply: line[bar + 1..].to_vec(),
        });
    }
    if lines.is_empty() {
        return Err(Diagnostic::in_file(path, "no `query|reply` lines"));
    }
    Ok(lines)
}

/// How a character model did on training lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextScore {
    /// Lines scored.
    pub lines: usize,
    /// Lines whose generated reply is exact (ignoring ASCII case).
    pub exact: usize,
    /// Reply positions scored (teacher-forced).
    pub positions: usize,
    /// Positions whose next character was predicted right.
    pub next_correct: usize,
}

/// Score a generating text model on `lines`.
pub fn score(model: &Model, lines: &[Line]) -> Result<TextScore> {
    let Some((charset, eos, max_length)) = model.decode.generation() else {
        return Err(Diagnostic::new(
            "query|reply text scores character models (output: generate)",
        ));
    };
    let ctx_len = interp::context_length(model);
    let mut s = TextScore::default();
    for l in lines {
        s.lines += 1;
        let got = interp::reply(model, &l.query).0;
        if got.eq_ignore_ascii_case(&l.reply) {
            s.exact += 1;
        }
        let mut ctx = vec![b' '; ctx_len];
        for i in 0..=l.reply.len() {
            if i >= max_length {
                break;
            }
            let want = match l.reply.get(i) {
                Some(c) => charset
                    .iter()
                    .position(|x| x == c)
                    .or_else(|| charset.iter().position(|x| x.eq_ignore_ascii_case(c))),
                None => Some(eos),
            };
            let got = interp::step(&model.graph, &interp::encode(model, &l.query, &ctx)).class;
            s.positions += 1;
            if want == Some(got) {
                s.next_correct += 1;
            }
            if let Some(&c) = l.reply.get(i) {
                if !ctx.is_empty() {
                    ctx.remove(0);
                    ctx.push(interp::lower(c));
                }
            }
        }
    }
    Ok(s)
}
