//! `zlmc run`: answer queries on the host with the reference interpreter.

use std::io::{BufRead, Write};
use std::path::Path;

use zlmc_ir::{interp, Decode, Model};

use crate::diag::{Diagnostic, Result};
use crate::driver;
use crate::input::{check_batch_line, io_err, raw_input, read_line};

/// `zlmc run MODEL`: answer the `prompt`, or stdin's lines with `batch`, or
/// chat as z80ai's CP/M program does. A batch answers every line it can and
/// reports each one it cannot on `err`, then fails if there was any.
pub fn run(
    path: &Path,
    prompt: Option<String>,
    batch: bool,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let m = &driver::load(path)?;
    if let Some(p) = prompt {
        let reply = answer(m, p.as_bytes()).map_err(|d| d.help("in --prompt"))?;
        out.write_all(&reply).map_err(io_err)?;
        return out.write_all(b"\n").map_err(io_err);
    }
    if batch {
        let (mut n, mut refused) = (0, 0);
        while let Some(line) = read_line(stdin).map_err(io_err)? {
            n += 1;
            let reply = check_batch_line(&line, n).and_then(|()| {
                answer(m, &line).map_err(|d| Diagnostic {
                    message: format!("stdin line {n}: {}", d.message),
                    ..d
                })
            });
            match reply {
                Ok(reply) => {
                    out.write_all(&line).map_err(io_err)?;
                    out.write_all(b"\t").map_err(io_err)?;
                    out.write_all(&reply).map_err(io_err)?;
                    out.write_all(b"\n").map_err(io_err)?;
                }
                // The line is reported and the batch goes on: one bad line
                // must not cost the answers to the rest.
                Err(d) => {
                    refused += 1;
                    writeln!(err, "{d}").map_err(io_err)?;
                }
            }
        }
        if refused > 0 {
            return Err(Diagnostic::new(format!(
                "{refused} of {n} stdin lines could not be answered (each is reported above)"
            )));
        }
        return Ok(());
    }
    // The chat loop of z80ai's CP/M program.
    loop {
        out.write_all(b"> ").map_err(io_err)?;
        out.flush().map_err(io_err)?;
        let Some(line) = read_line(stdin).map_err(io_err)? else {
            return out.write_all(b"\n").map_err(io_err);
        };
        if line.first() == Some(&b'!') {
            return Ok(());
        }
        if line.is_empty() {
            continue;
        }
        // In the chat loop a bad line is reported and the loop goes on.
        match answer(m, &line) {
            Ok(reply) => out.write_all(&reply).map_err(io_err)?,
            Err(d) => out.write_all(format!("{d}").as_bytes()).map_err(io_err)?,
        }
        out.write_all(b"\n").map_err(io_err)?;
    }
}

/// The model's answer to one line of input, as bytes.
fn answer(m: &Model, line: &[u8]) -> Result<Vec<u8>> {
    if m.takes_text() {
        return Ok(interp::reply(m, line).0);
    }
    let input = raw_input(m, line).map_err(Diagnostic::new)?;
    let r = interp::step(&m.graph, &input);
    Ok(match &m.decode {
        Decode::Values { quant, .. } => quant.text(&r.logits).into_bytes(),
        d => d.answer(r.class).expect("argmax is a class"),
    })
}
