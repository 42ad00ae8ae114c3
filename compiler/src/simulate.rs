//! `zlmc sim`: run the generated program on a simulator, print the replies
//! (stdout) and what they cost (stderr).

use std::io::{BufRead, Write};
use std::path::Path;

use crate::diag::{Diagnostic, Result};
use crate::driver;
use crate::sim::z80::{run_cpm, CpmRun, Exit};

/// One query's run on the Z80.
#[derive(Debug, Clone)]
pub struct Z80Reply {
    /// What the program printed: the reply.
    pub reply: Vec<u8>,
    /// T-states of each inference step.
    pub steps: Vec<u64>,
    /// T-states of the whole run, front-end included.
    pub total: u64,
    /// Highest address the program wrote (stack pushes included).
    pub highest_write: u16,
}

/// Longest query a CP/M command tail holds.
pub const MAX_QUERY: usize = 127;

/// Run `com` once with `query` as its command tail.
pub fn z80_reply(com: &[u8], step_entry: u16, query: &[u8]) -> Result<Z80Reply> {
    if query.is_empty() {
        return Err(Diagnostic::new(
            "an empty query cannot be passed as a CP/M command tail (the program would start its chat loop)",
        ));
    }
    if query.len() > MAX_QUERY {
        return Err(Diagnostic::new(format!(
            "query of {} bytes: a CP/M command tail holds at most {MAX_QUERY}",
            query.len()
        )));
    }
    let r = run_cpm(&CpmRun {
        program: com,
        command_tail: query,
        console_input: b"",
        step_entry: Some(step_entry),
        max_tstates: 20_000_000_000,
    })
    .map_err(|e| Diagnostic::new(format!("cannot run the program: {e}")))?;
    if !matches!(r.exit, Exit::WarmBoot) {
        return Err(Diagnostic::new(format!(
            "the program did not return to CP/M ({:?}) for query {:?}",
            r.exit,
            String::from_utf8_lossy(query)
        )));
    }
    if r.console_calls_with_interrupts_disabled > 0 {
        return Err(Diagnostic::new(
            "the program called the console with interrupts disabled",
        ));
    }
    Ok(Z80Reply {
        reply: r.output,
        steps: r.step_tstates,
        total: r.total_tstates,
        highest_write: r.highest_write,
    })
}

/// `zlmc sim MODEL --target z80`.
pub fn z80(
    path: &Path,
    prompt: Option<String>,
    batch: bool,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<()> {
    let mut model = driver::load(path)?;
    driver::optimize(&mut model, &[], |_, _| {})?;
    let z = driver::build_z80(&model, path)?;
    let io = |e: std::io::Error| Diagnostic::new(format!("I/O error: {e}"));
    let mut queries = Vec::new();
    if let Some(p) = prompt {
        queries.push(p.into_bytes());
    } else if batch {
        while let Some(line) = crate::cli::read_line(stdin).map_err(io)? {
            queries.push(line);
        }
    } else {
        return Err(Diagnostic::new("nothing to run").help("pass --prompt TEXT or --batch"));
    }
    let mut stats = Stats::default();
    for q in &queries {
        let r = z80_reply(&z.com, z.step_entry, q)?;
        if batch {
            out.write_all(q).map_err(io)?;
            out.write_all(b"\t").map_err(io)?;
        }
        out.write_all(&r.reply).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
        stats.add(q, &r);
    }
    eprintln!("{}", stats.summary(z.com.len(), z.buffers_start));
    Ok(())
}

/// Cost figures over a run of queries.
#[derive(Debug, Default)]
pub struct Stats {
    steps: u64,
    tstates: u64,
    max_step: u64,
    worst: (f64, String),
    total: u64,
    highest_write: u16,
}

impl Stats {
    /// Count one query's run.
    pub fn add(&mut self, query: &[u8], r: &Z80Reply) {
        let sum: u64 = r.steps.iter().sum();
        self.steps += r.steps.len() as u64;
        self.tstates += sum;
        self.total += r.total;
        self.max_step = self
            .max_step
            .max(r.steps.iter().copied().max().unwrap_or(0));
        let avg = sum as f64 / r.steps.len().max(1) as f64;
        if avg > self.worst.0 {
            self.worst = (avg, String::from_utf8_lossy(query).into_owned());
        }
        self.highest_write = self.highest_write.max(r.highest_write);
    }

    /// Average T-states per inference step.
    pub fn average(&self) -> f64 {
        self.tstates as f64 / self.steps.max(1) as f64
    }

    /// A report: steps, T-states per step (average, max, worst query), sizes.
    pub fn summary(&self, com_len: usize, buffers: u16) -> String {
        format!(
            "z80: {} steps; T-states per inference step: average {:.0} ({:.1} ms at 4 MHz), max {}; \
             worst query {:?} at {:.0} per step; whole runs incl. front-end: {:.0} per step; \
             .COM {} bytes; buffers from 0x{buffers:04x}; highest write 0x{:04x}",
            self.steps,
            self.average(),
            self.average() / 4000.0,
            self.max_step,
            self.worst.1,
            self.worst.0,
            self.total as f64 / self.steps.max(1) as f64,
            com_len,
            self.highest_write
        )
    }
}
