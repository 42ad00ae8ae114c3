//! What a model costs on a target: sizes from the target's plan, cycles per
//! inference measured on its simulator. Every target-specific call of
//! `zlmc eval` and `zlmc compare` is in [`measure`], and it goes through the
//! target registry (`zlmc_backends::target`).

use std::path::Path;

use zlmc_backends::target::{lookup, Job, Machine, Options, Target, Verified};
use zlmc_backends::BackendError;
use zlmc_ir::Model;

use crate::diag::{Diagnostic, Result};
use crate::driver;

/// A target (and board) to measure on.
#[derive(Clone, Copy)]
pub struct MeasureTarget {
    /// The registry entry.
    pub target: &'static dyn Target,
    /// The board, for targets that have boards.
    pub board: Option<&'static str>,
}

impl std::fmt::Debug for MeasureTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl MeasureTarget {
    /// The target `name` with `board`, checked as `zlmc build` checks them.
    pub fn new(name: &str, board: Option<&str>) -> Result<MeasureTarget> {
        let target =
            lookup(name).ok_or_else(|| Diagnostic::new(format!("unknown target `{name}`")))?;
        let board = match board {
            Some(b) => Some(
                target
                    .boards()
                    .iter()
                    .find(|x| x.name == b)
                    .map(|x| x.name)
                    .unwrap_or(""),
            ),
            None => None,
        };
        zlmc_backends::target::check_options(
            target,
            Options {
                board: board.filter(|b| !b.is_empty()),
                ..Options::default()
            },
        )
        .map_err(|e| Diagnostic::new(e.message))?;
        Ok(MeasureTarget { target, board })
    }

    /// The machine it measures on: the board's, or the target's only one.
    pub fn machine(self) -> Option<&'static Machine> {
        let machines = self.target.machines();
        match self.board {
            Some(b) => machines.iter().find(|m| m.name == b),
            None => machines.first().filter(|_| machines.len() == 1),
        }
    }

    /// How tables and reports name it.
    pub fn name(self) -> String {
        match self.board {
            Some(b) => format!("{} {b}", self.target.name()),
            None => self.target.name().to_string(),
        }
    }
}

/// Inputs to time the model on.
#[derive(Debug, Clone)]
pub enum Sample {
    /// Raw input vectors.
    Vectors(Vec<Vec<i16>>),
    /// Text queries.
    Queries(Vec<Vec<u8>>),
}

/// What a model costs on a target.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Bytes of program memory the model takes, from the target's plan (the
    /// generated files' size where the plan does not say).
    pub flash: usize,
    /// Bytes of static RAM the model takes, where the plan says.
    pub sram: Option<usize>,
    /// Mean cycles (T-states on the Z80) per inference step over the sample, simulated.
    pub cycles: Option<f64>,
    /// Milliseconds per inference at the machine's clock.
    pub ms: Option<f64>,
    /// Whether it fits the board (targets with boards).
    pub fits: Option<bool>,
    /// Why it does not fit, or what could not be measured.
    pub note: Option<String>,
}

/// Measure an optimized `model` (read from `source`) on `t` over `sample`.
pub fn measure(
    model: &Model,
    source: &Path,
    t: MeasureTarget,
    sample: &Sample,
) -> Result<Measured> {
    let prov = driver::provenance(source);
    let opts = Options {
        board: t.board,
        ..Options::default()
    };
    let v = Verified::new(model).map_err(|e| Diagnostic::in_file(source, e.to_string()))?;
    let has_boards = !t.target.boards().is_empty();
    let job = Job {
        model: &v,
        prov: &prov,
        opts,
    };
    // Built once: the plan and the files for the sizes, the program for the simulator.
    let built = match t.target.emit(&job) {
        Ok(b) => b,
        Err(BackendError::TooBig { message, .. }) => {
            return Ok(Measured {
                fits: Some(false),
                note: Some(message),
                ..Measured::default()
            })
        }
        Err(e) => {
            return Err(Diagnostic::in_file(
                source,
                format!("cannot build for --target {}: {e}", t.target.name()),
            ))
        }
    };
    let flash = built
        .plan
        .flash
        .unwrap_or_else(|| built.files.iter().map(|(_, d)| d.len()).sum());
    let mut m = Measured {
        flash,
        sram: built.plan.ram,
        fits: has_boards.then_some(true),
        ..Measured::default()
    };
    let lines: Vec<Vec<u8>> = match sample {
        Sample::Queries(q) => q.iter().filter(|q| !q.is_empty()).cloned().collect(),
        Sample::Vectors(v) => v.iter().map(|x| crate::input::integer_line(x)).collect(),
    };
    if let Some(sim) = t.target.simulator().filter(|_| !lines.is_empty()) {
        match sim.run(&job, &built, &lines) {
            Ok(run) if run.summary.steps > 0 => {
                m.cycles = Some(run.summary.average());
                m.ms = Some(run.summary.average_ms());
            }
            Ok(_) => {}
            Err(e) => {
                let d = driver::backend_error(t.target, source, e);
                m.note = Some(format!("not simulated: {}", d.message));
            }
        }
    }
    Ok(m)
}
