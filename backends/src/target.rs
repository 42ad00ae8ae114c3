//! The target interface: what a backend declares so that the driver and the
//! command line can use it without knowing it by name.
//!
//! A target is a folder under `backends/src/` with a `target.rs` that
//! implements [`Target`], plus one line in [`TARGETS`]. The CLI's `--target`
//! and `--board` values, `zlmc build`, `zlmc sim` and their help text all come
//! from this registry (see docs/targets.md).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use zlmc_ir::Model;

use crate::lowered::Lowered;
use crate::{BackendError, Provenance};

pub use crate::machine::{ArduinoNames, Machine};
pub use crate::sim::summary::{SimSummary, WorstQuery};

/// Every target zlmc can build for, in the order `--help` lists them; the
/// first is `zlmc build`'s default.
pub static TARGETS: &[&dyn Target] = &[
    &crate::c::target::C_TARGET,
    &crate::z80::target::Z80_TARGET,
    &crate::avr::target::AVR_TARGET,
    &crate::zx48::target::ZX48_TARGET,
];

/// The target called `name`.
pub fn lookup(name: &str) -> Option<&'static dyn Target> {
    TARGETS.iter().copied().find(|t| t.name() == name)
}

/// A model that passed the IR verifier, lowered once for every backend: the
/// only way a backend sees a model.
#[derive(Debug, Clone)]
pub struct Verified<'a> {
    lowered: Lowered<'a>,
}

impl<'a> Verified<'a> {
    /// Verify `model` and lower it, once, for every backend that will see it.
    pub fn new(model: &'a Model) -> Result<Self, BackendError> {
        zlmc_ir::verify::verify_model(model)
            .map_err(|e| BackendError::Unsupported(format!("the model does not verify: {e}")))?;
        Ok(Verified {
            lowered: Lowered::new(model)?,
        })
    }

    /// The model.
    pub fn model(&self) -> &'a Model {
        self.lowered.model
    }

    /// The model as the backends generate it: layers, epilogues, input map.
    pub fn lowered(&self) -> &Lowered<'a> {
        &self.lowered
    }
}

impl std::ops::Deref for Verified<'_> {
    type Target = Model;

    fn deref(&self) -> &Model {
        self.lowered.model
    }
}

/// What the user chose for a target beyond its name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options<'a> {
    /// The board (`--board`), for targets that have boards; checked by [`check_options`].
    pub board: Option<&'a str>,
    /// How much static RAM the program may spend for speed (`--sram`).
    pub sram: SramUse,
}

/// How much static RAM a board's program may spend for speed (`--sram`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SramUse {
    /// Static data stays under the 75 % of SRAM the Arduino IDE warns above.
    #[default]
    Safe,
    /// Static data may take all but what the stack needs, where that saves cycles.
    Fast,
}

impl SramUse {
    /// Every choice, the default first.
    pub const ALL: [SramUse; 2] = [SramUse::Safe, SramUse::Fast];

    /// The name `--sram` takes.
    pub fn name(self) -> &'static str {
        match self {
            SramUse::Safe => "safe",
            SramUse::Fast => "fast",
        }
    }

    /// One line for `--help`.
    pub fn about(self) -> &'static str {
        match self {
            SramUse::Safe => "static RAM under the 75 % the Arduino IDE warns above",
            SramUse::Fast => "more static RAM (up to what the stack needs) where it saves cycles",
        }
    }

    /// The choice named `name`.
    pub fn from_name(name: &str) -> Option<SramUse> {
        SramUse::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One request to a target: the verified model, where it came from, the options.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The model, verified and lowered.
    pub model: &'a Verified<'a>,
    /// Where it came from, for the generated files' banners.
    pub prov: &'a Provenance,
    /// What the user chose beyond the target.
    pub opts: Options<'a>,
}

/// What a plan found: sizes, whether it fits, what it should cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Bytes of program memory the model takes (code and tables), where it is known.
    pub flash: Option<usize>,
    /// Bytes of static RAM the model takes, where it is known.
    pub ram: Option<usize>,
    /// Predicted cycles per inference step, where the target predicts them.
    pub cycles: Option<u64>,
    /// The plan's report for the user, one fact per line (may be empty).
    pub summary: String,
}

/// A generated file: its name (relative to the output folder) and contents.
pub type OutFile = (String, Vec<u8>);

/// What a target generated.
#[derive(Debug, Clone)]
pub struct Emitted {
    /// A folder of its own the files go in, inside the output folder (an Arduino
    /// sketch must sit in a folder named like its `.ino`); `None`: the output folder.
    pub folder: Option<String>,
    /// The files, in the order they are reported.
    pub files: Vec<OutFile>,
    /// The plan the files follow.
    pub plan: Plan,
    /// What the target's simulator needs of the build beyond the files.
    pub program: Program,
}

impl Emitted {
    /// Files for the output folder itself, a program of `flash` bytes summed
    /// up in `summary`, and `built` kept for the target's simulator.
    pub fn program_files<T: Any + Send + Sync>(
        files: Vec<OutFile>,
        flash: usize,
        summary: String,
        built: T,
    ) -> Emitted {
        Emitted {
            folder: None,
            files,
            plan: Plan {
                flash: Some(flash),
                summary,
                ..Plan::default()
            },
            program: Program::new(built),
        }
    }
}

/// A target's own record of a build, kept for its simulator (load address,
/// entry points, the files in its own form): opaque to everyone else.
#[derive(Clone, Default)]
pub struct Program(Option<Arc<dyn Any + Send + Sync>>);

impl Program {
    /// Keep `built` for the simulator of the target that built it.
    pub fn new<T: Any + Send + Sync>(built: T) -> Program {
        Program(Some(Arc::new(built)))
    }

    /// The record, if it is a `T` (what this target's `emit` keeps).
    pub fn get<T: Any>(&self) -> Result<&T, BackendError> {
        self.0
            .as_deref()
            .and_then(|p| p.downcast_ref())
            .ok_or_else(|| BackendError::internal("the simulator was given another target's build"))
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Program(..)"
        } else {
            "Program(none)"
        })
    }
}

/// One query's answer from a simulated run, and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// What the program replied, without its line end.
    pub reply: Vec<u8>,
    /// Cycles (T-states on the Z80) of each inference step.
    pub steps: Vec<u64>,
}

/// What a simulated run of many queries gave.
#[derive(Debug, Clone)]
pub struct SimRun {
    /// One answer per query, in order.
    pub answers: Vec<Answer>,
    /// What the run cost, as every target works it out.
    pub summary: SimSummary,
    /// The cost report for the user: the summary and the target's own figures (several lines).
    pub report: String,
}

/// The registry's facts about a target: its name, its line for `--help`,
/// the machines it runs on. Each target keeps one in a static.
#[derive(Debug)]
pub struct TargetInfo {
    /// The name `--target` takes.
    pub name: &'static str,
    /// A line for `--help`: the machine and the files written.
    pub about: &'static str,
    /// The machines its programs run on (none for portable code).
    pub machines: &'static [Machine],
}

/// A code generator, as the driver and the CLI see it.
pub trait Target: Sync {
    /// What it is called, says of itself and runs on.
    fn info(&self) -> &'static TargetInfo;

    /// The name `--target` takes.
    fn name(&self) -> &'static str {
        self.info().name
    }

    /// A line for `--help`: the machine and the files written.
    fn about(&self) -> &'static str {
        self.info().about
    }

    /// The machines its programs run on (none for portable code).
    fn machines(&self) -> &'static [Machine] {
        self.info().machines
    }

    /// The boards `--board` takes: the machines, when there are several to
    /// choose from (derived; targets do not override it).
    fn boards(&self) -> &'static [Machine] {
        match self.machines() {
            several @ [_, _, ..] => several,
            _ => &[],
        }
    }

    /// Plan `model` for the options: sizes, fit, predicted cost, or why it cannot be built.
    fn plan(&self, job: &Job) -> Result<Plan, BackendError> {
        self.emit(job).map(|e| e.plan)
    }

    /// Generate the files for `model`.
    fn emit(&self, job: &Job) -> Result<Emitted, BackendError>;

    /// The simulator that runs this target's output, if there is one.
    fn simulator(&self) -> Option<&'static dyn Simulator> {
        None
    }
}

/// A way to run a target's output the way its machine would.
pub trait Simulator: Sync {
    /// Why this target's program cannot be given `query` (a line its front-end
    /// cannot read), if it cannot: a refusal of that query alone, which [`run`]
    /// returns as [`BackendError::Unsupported`], and which a caller answering
    /// many queries can report and go on, unlike an internal error.
    ///
    /// [`run`]: Simulator::run
    fn refusal(&self, _job: &Job, _query: &[u8]) -> Option<String> {
        None
    }

    /// Run `built` (what the target's `emit` gave for `job`) and answer each
    /// query (one line, no line end).
    fn run(&self, job: &Job, built: &Emitted, queries: &[Vec<u8>]) -> Result<SimRun, BackendError>;
}

/// Answer each query with `run`, which gives a query's answer and the
/// simulator's own report of its run: the answers and the reports, in order.
pub fn answer_each<R>(
    queries: &[Vec<u8>],
    run: impl FnMut(&[u8]) -> Result<(Answer, R), BackendError>,
) -> Result<(Vec<Answer>, Vec<R>), BackendError> {
    let runs: Vec<(Answer, R)> = queries
        .iter()
        .map(|q| q.as_slice())
        .map(run)
        .collect::<Result<_, _>>()?;
    Ok(runs.into_iter().unzip())
}

/// A usage problem with `--board` for a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError {
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The board names of `target`, comma-separated, for messages.
pub fn board_names(target: &dyn Target) -> String {
    let names: Vec<&str> = target.boards().iter().map(|b| b.name).collect();
    names.join(", ")
}

/// Check `--board` against what `target` takes: required where it has boards,
/// refused elsewhere (and `--sram fast` with it).
pub fn check_options(target: &dyn Target, opts: Options) -> Result<(), OptionsError> {
    let boards = target.boards();
    let name = target.name();
    if opts.sram != SramUse::Safe && boards.is_empty() {
        return Err(OptionsError {
            message: format!(
                "--sram {}: --target {name} has no boards to spend static RAM on",
                opts.sram.name()
            ),
        });
    }
    match opts.board {
        None if !boards.is_empty() => Err(OptionsError {
            message: format!(
                "--target {name} needs --board BOARD (one of {})",
                board_names(target)
            ),
        }),
        Some(b) if boards.is_empty() => Err(OptionsError {
            message: format!("--board {b}: --target {name} has no boards"),
        }),
        Some(b) if !boards.iter().any(|x| x.name == b) => Err(OptionsError {
            message: format!(
                "unknown board `{b}` for --target {name} (boards: {})",
                board_names(target)
            ),
        }),
        _ => Ok(()),
    }
}
