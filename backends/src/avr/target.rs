//! The AVR target in the registry: an Arduino sketch folder for one of the
//! boards, simulated in simavr inside zlmc's firmware (`sim.rs`).

use super::{AvrFiles, Board, BOARDS};
use crate::target::{
    Answer, Emitted, Job, Options, Plan, Program, SimRun, SimSummary, Simulator, SramUse, Target,
    TargetInfo, Verified,
};
use crate::{BackendError, Provenance};

/// The `avr` target.
pub struct AvrTarget;

/// The registry's entry for the AVR target.
pub static AVR_TARGET: AvrTarget = AvrTarget;

/// The board the options name (checked against [`BOARDS`] by the caller).
pub fn board(opts: Options) -> Result<Board, BackendError> {
    let name = opts
        .board
        .ok_or_else(|| BackendError::unsupported("the AVR target needs a board"))?;
    Board::from_name(name)
        .ok_or_else(|| BackendError::Unsupported(format!("unknown board `{name}`")))
}

/// Build the sketch for a verified model (static RAM under the IDE's warning).
pub fn build(
    model: &Verified,
    prov: &Provenance,
    board: Board,
) -> Result<super::AvrFiles, BackendError> {
    super::emit(model, prov, board, SramUse::Safe)
}

/// The registry's facts about the `avr` target.
static INFO: TargetInfo = TargetInfo {
    name: "avr",
    about: "an Arduino sketch (NAME/NAME.ino, NAME_model.S, NAME_model.h); needs --board",
    machines: &BOARDS,
};

impl Target for AvrTarget {
    fn info(&self) -> &'static TargetInfo {
        &INFO
    }

    fn emit(&self, job: &Job) -> Result<Emitted, BackendError> {
        let a = super::emit(job.model, job.prov, board(job.opts)?, job.opts.sram)?;
        let r = &a.report;
        let plan = Plan {
            flash: Some(r.model_flash()),
            ram: Some(r.sram),
            cycles: None,
            summary: r.summary(),
        };
        Ok(Emitted {
            folder: Some(a.dir_name.clone()),
            files: a
                .files
                .iter()
                .map(|(n, t)| (n.clone(), t.clone().into_bytes()))
                .collect(),
            plan,
            program: Program::new(a),
        })
    }

    fn simulator(&self) -> Option<&'static dyn Simulator> {
        Some(&AVR_TARGET)
    }
}

impl Simulator for AvrTarget {
    fn refusal(&self, job: &Job, query: &[u8]) -> Option<String> {
        super::sim::refusal(super::sim::mode_of(job.model), query)
    }

    fn run(&self, job: &Job, built: &Emitted, queries: &[Vec<u8>]) -> Result<SimRun, BackendError> {
        let files: &AvrFiles = built.program.get()?;
        let dir = tempfile::Builder::new()
            .prefix("zlmc-avr-sim-")
            .tempdir()
            .map_err(|e| BackendError::Internal(format!("cannot make a scratch folder: {e}")))?;
        let fw = super::sim::firmware_of(files.clone(), job.model, job.prov, dir.path())?;
        let r = super::sim::run(&fw, queries)?;
        let size = crate::sim::avr::avr_size(&fw.elf)
            .map_err(|e| BackendError::Internal(format!("cannot size the firmware: {e}")))?;
        let answers: Vec<Answer> = r
            .answers
            .iter()
            .zip(&r.steps)
            .map(|(reply, steps)| Answer {
                reply: reply.clone(),
                steps: steps.clone(),
            })
            .collect();
        let summary = SimSummary::of(&answers, queries, fw.board.machine());
        let report = format!(
            "avr: {summary}; firmware {} bytes of flash, {} of static RAM, stack peak {} bytes\n{}",
            size.flash(),
            size.static_ram(),
            r.report.stack_peak(),
            fw.files.report.summary()
        );
        Ok(SimRun {
            answers,
            summary,
            report,
        })
    }
}
