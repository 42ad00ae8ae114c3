//! `zlmc sim`: run the generated program on its target's simulator, print
//! the replies (stdout) and what they cost (stderr).

use std::io::{BufRead, Write};
use std::path::Path;

use zlmc_backends::target::{Options, Target};

use crate::diag::{Diagnostic, Result};
use crate::driver;

/// The queries of `zlmc sim`: the `--prompt`, or stdin's lines with `--batch`.
pub fn read_queries(
    prompt: Option<String>,
    batch: bool,
    stdin: &mut dyn BufRead,
) -> Result<Vec<Vec<u8>>> {
    let mut queries = Vec::new();
    if let Some(p) = prompt {
        queries.push(p.into_bytes());
    } else if batch {
        while let Some(line) = crate::input::read_line(stdin).map_err(crate::input::io_err)? {
            crate::input::check_batch_line(&line, queries.len() + 1)?;
            queries.push(line);
        }
    } else {
        return Err(Diagnostic::usage("nothing to run").help("pass --prompt TEXT or --batch"));
    }
    Ok(queries)
}

/// `zlmc sim MODEL --target T [--board B]`: the replies on `out` (after each query
/// and a tab with `batch`), what they cost on `err`.
pub fn sim(
    path: &Path,
    target: &dyn Target,
    opts: Options,
    queries: &[Vec<u8>],
    batch: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let io = crate::input::io_err;
    let mut model = driver::load(path)?;
    // The machine reads a raw-input model's values as integers: the line as the
    // interpreter reads it (quantized, for a model from a float one), or its error.
    let mut machine_queries = queries.to_vec();
    if !model.takes_text() {
        for (i, q) in machine_queries.iter_mut().enumerate() {
            let values = crate::input::raw_input(&model, q).map_err(|m| {
                Diagnostic::new(if batch {
                    format!("stdin line {}: {m}", i + 1)
                } else {
                    format!("--prompt: {m}")
                })
            })?;
            *q = crate::input::integer_line(&values);
        }
    }
    driver::optimize(&mut model, &[], |_, _| {})?;
    let run = driver::simulate(target, &model, path, opts, &machine_queries)?;
    for (q, a) in queries.iter().zip(&run.answers) {
        if batch {
            out.write_all(q).map_err(io)?;
            out.write_all(b"\t").map_err(io)?;
        }
        if model.takes_text() {
            out.write_all(&a.reply).map_err(io)?;
        } else {
            out.write_all(&vector_answer(&model, &a.reply)?)
                .map_err(io)?;
        }
        out.write_all(b"\n").map_err(io)?;
    }
    writeln!(err, "{}", run.report).map_err(io)
}

/// What `zlmc run` prints for a raw-input model (the class's label, or its charset
/// byte), from a simulator's answer `logits | class`.
fn vector_answer(model: &zlmc_ir::Model, reply: &[u8]) -> Result<Vec<u8>> {
    let text = String::from_utf8_lossy(reply);
    let class = text
        .rsplit_once('|')
        .and_then(|(_, c)| c.trim().parse::<usize>().ok())
        .ok_or_else(|| {
            Diagnostic::new(format!(
                "internal error: the simulator answered `{text}`, not `logits | class`"
            ))
        })?;
    model.decode.answer(class).ok_or_else(|| {
        Diagnostic::new(format!(
            "internal error: the simulator answered class {class}, past the model's outputs"
        ))
    })
}
