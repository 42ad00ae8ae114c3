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
            queries.push(line);
        }
    } else {
        return Err(Diagnostic::usage("nothing to run").help("pass --prompt TEXT or --batch"));
    }
    Ok(queries)
}

/// `zlmc sim MODEL --target T [--board B]`: the replies on `out` (after each query
/// and a tab with `batch`), what they cost on `err`. A batch answers every line
/// it can and reports each one it cannot on `err`, then fails if there was any.
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
    let name = target.name();
    // Where a query came from, for its errors.
    let origin = |i: usize| {
        if batch {
            format!("stdin line {}", i + 1)
        } else {
            "--prompt".to_string()
        }
    };
    // Each query as the machine reads it (a raw-input model's values as
    // integers, quantized for a model from a float one), or why it cannot be.
    let machine_queries: Vec<std::result::Result<Vec<u8>, String>> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            if batch {
                crate::input::check_batch_line(q, i + 1).map_err(|d| d.message)?;
            }
            if model.takes_text() {
                return Ok(q.clone());
            }
            crate::input::raw_input(&model, q)
                .map(|values| crate::input::integer_line(&values))
                .map_err(|m| format!("{}: {m}", origin(i)))
        })
        .collect();
    driver::optimize(&mut model, &[], |_, _| {})?;
    let taken: Vec<Vec<u8>> = machine_queries.iter().flatten().cloned().collect();
    let run = driver::simulate(target, &model, path, opts, &taken)?;
    let mut answers = run.answers.into_iter();
    let mut refused = 0;
    for (i, (q, machine)) in queries.iter().zip(machine_queries).enumerate() {
        let answer = machine.and_then(|_| {
            answers
                .next()
                .expect("one answer per query taken")
                .map_err(|why| {
                    format!(
                        "{}: --target {name} cannot take this query: {why}",
                        origin(i)
                    )
                })
        });
        let answer = match answer {
            Ok(a) => a,
            // The query is reported and the batch goes on: one bad line
            // must not cost the answers to the rest.
            Err(m) if batch => {
                refused += 1;
                writeln!(err, "{}", Diagnostic::new(m)).map_err(io)?;
                continue;
            }
            Err(m) => return Err(Diagnostic::new(m)),
        };
        if batch {
            out.write_all(q).map_err(io)?;
            out.write_all(b"\t").map_err(io)?;
        }
        if model.takes_text() {
            out.write_all(&answer.reply).map_err(io)?;
        } else {
            out.write_all(&printed_answer(&model, &answer.reply)?)
                .map_err(io)?;
        }
        out.write_all(b"\n").map_err(io)?;
    }
    if let Some(report) = run.report {
        writeln!(err, "{report}").map_err(io)?;
    }
    if refused > 0 {
        return Err(Diagnostic::new(format!(
            "{refused} of {} stdin lines could not be answered (each is reported above)",
            queries.len()
        )));
    }
    Ok(())
}

/// What `zlmc run` prints for a raw-input model, from what a simulator
/// answered: the label as it is, or a values model's int16 outputs scaled.
fn printed_answer(model: &zlmc_ir::Model, reply: &[u8]) -> Result<Vec<u8>> {
    let zlmc_ir::Decode::Values { quant, count } = &model.decode else {
        return Ok(reply.to_vec());
    };
    let text = String::from_utf8_lossy(reply);
    let outputs: Option<Vec<i16>> = text.split(' ').map(|v| v.parse().ok()).collect();
    match outputs {
        Some(q) if q.len() == *count => Ok(quant.text(&q).into_bytes()),
        _ => Err(Diagnostic::new(format!(
            "internal error: the program answered `{text}`, not {count} outputs"
        ))),
    }
}
