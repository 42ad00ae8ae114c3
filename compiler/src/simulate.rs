//! `zlmc sim`: run the generated program on its target's simulator, print
//! the replies (stdout) and what they cost (stderr).

use std::io::{BufRead, Write};
use std::path::Path;

use zlmc_backends::target::{Options, Target};

use crate::diag::{Diagnostic, Result};
use crate::driver;

pub use zlmc_backends::avr::sim::{AvrFirmware, AvrMode, AvrRunResult, AVR_LINE};
pub use zlmc_backends::z80::target::{z80_reply as z80_run, Stats, Z80Reply, MAX_QUERY};

/// `zlmc sim MODEL --target T [--board B]`.
pub fn sim(
    path: &Path,
    target: &dyn Target,
    opts: Options,
    prompt: Option<String>,
    batch: bool,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<()> {
    let io = crate::cli::io_err;
    let mut queries = Vec::new();
    if let Some(p) = prompt {
        queries.push(p.into_bytes());
    } else if batch {
        while let Some(line) = crate::cli::read_line(stdin).map_err(io)? {
            crate::cli::check_batch_line(&line, queries.len() + 1)?;
            queries.push(line);
        }
    } else {
        return Err(Diagnostic::usage("nothing to run").help("pass --prompt TEXT or --batch"));
    }
    let mut model = driver::load(path)?;
    if !model.takes_text() {
        // The simulators read raw values as the interpreter does: refuse the same lines.
        for (i, q) in queries.iter().enumerate() {
            crate::cli::raw_input(&model, q).map_err(|m| {
                Diagnostic::new(if batch {
                    format!("stdin line {}: {m}", i + 1)
                } else {
                    format!("--prompt: {m}")
                })
            })?;
        }
    }
    driver::optimize(&mut model, &[], |_, _| {})?;
    let run = driver::simulate(target, &model, path, opts, &queries)?;
    for (q, a) in queries.iter().zip(&run.answers) {
        if batch {
            out.write_all(q).map_err(io)?;
            out.write_all(b"\t").map_err(io)?;
        }
        out.write_all(&a.reply).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
    }
    eprintln!("{}", run.summary);
    Ok(())
}

/// Run `com` once with `query` as its command tail (for tests and benchmarks).
pub fn z80_reply(com: &[u8], step_entry: u16, query: &[u8]) -> Result<Z80Reply> {
    z80_run(com, step_entry, query).map_err(|e| Diagnostic::new(e.to_string()))
}

/// Build the AVR simulator firmware for an optimized `model` in `dir` (for tests and benchmarks).
pub fn avr_firmware(
    model: &zlmc_ir::Model,
    source: &Path,
    board: zlmc_backends::avr::Board,
    dir: &Path,
) -> Result<AvrFirmware> {
    let v =
        zlmc_backends::target::Verified::new(model).map_err(|e| Diagnostic::new(e.to_string()))?;
    zlmc_backends::avr::sim::firmware(v, &driver::provenance(source), board, dir)
        .map_err(|e| Diagnostic::new(e.to_string()))
}

/// Answer `lines` in one simavr run of the firmware (for tests and benchmarks).
pub fn avr_run(fw: &AvrFirmware, lines: &[Vec<u8>]) -> Result<AvrRunResult> {
    zlmc_backends::avr::sim::run(fw, lines).map_err(|e| Diagnostic::new(e.to_string()))
}
