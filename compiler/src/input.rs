//! Reading what the user asks a model: stdin's lines, `--batch` queries, the
//! integer vector a raw-input model takes, and errors of the streams
//! themselves. `zlmc run` and `zlmc sim` read their input through here.

use std::io::BufRead;

use zlmc_ir::Model;

use crate::diag::{Diagnostic, Result};

/// The message of the error for a closed stdout, which ends zlmc quietly.
pub(crate) const BROKEN_PIPE: &str = "broken pipe";

/// An input or output error as a diagnostic.
pub(crate) fn io_err(e: std::io::Error) -> Diagnostic {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Diagnostic::new(BROKEN_PIPE);
    }
    Diagnostic::new(format!("I/O error: {e}"))
}

/// The next line of `stdin` without its `\n` or `\r\n`, or `None` at the end.
pub(crate) fn read_line(stdin: &mut dyn BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    if stdin.read_until(b'\n', &mut buf)? == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok(Some(buf))
}

/// A `--batch` query may not hold a tab: the output separates query and reply by one.
pub(crate) fn check_batch_line(line: &[u8], n: usize) -> Result<()> {
    if line.contains(&b'\t') {
        return Err(Diagnostic::new(format!(
            "stdin line {n}: the query contains a tab, which would make the tab-separated output ambiguous"
        )));
    }
    Ok(())
}

/// The input vector of a raw-input model from one line of whitespace- or
/// comma-separated integers, or why the line is not one.
pub(crate) fn raw_input(m: &Model, line: &[u8]) -> std::result::Result<Vec<i16>, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the input is not UTF-8 text".to_string())?;
    let values: Vec<&str> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    let want = m.input_len();
    // A model quantized from a float one reads the float features it was trained on.
    let quant = m.input_quant();
    let what = if quant.is_some() {
        "numbers"
    } else {
        "integers"
    };
    if values.len() != want {
        return Err(format!(
            "the model takes {want} {what}, the input has {}",
            values.len()
        ));
    }
    if let Some(q) = quant {
        return values
            .iter()
            .enumerate()
            .map(|(i, v)| match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(q.quantize(x)),
                _ => Err(format!("value {} `{v}` is not a finite number", i + 1)),
            })
            .collect();
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match v.parse::<i64>() {
            Ok(n) => i16::try_from(n).map_err(|_| {
                format!(
                    "value {} `{v}` is out of range for i16 (-32768..=32767)",
                    i + 1
                )
            }),
            Err(_) => Err(format!("value {} `{v}` is not an integer", i + 1)),
        })
        .collect()
}

/// Raw input values as the simulators read them: decimal integers, space-separated.
pub fn integer_line(values: &[i16]) -> Vec<u8> {
    let words: Vec<String> = values.iter().map(i16::to_string).collect();
    words.join(" ").into_bytes()
}
