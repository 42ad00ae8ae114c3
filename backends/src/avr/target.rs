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
        let model = job.model.model();
        let answers: Vec<Answer> = r
            .answers
            .iter()
            .zip(&r.steps)
            .map(|(reply, steps)| {
                Ok(Answer {
                    reply: if model.takes_text() {
                        reply.clone()
                    } else {
                        printed_vector_answer(model, reply)?
                    },
                    steps: steps.clone(),
                })
            })
            .collect::<Result<_, BackendError>>()?;
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

/// What the Z80 programs print for a raw-input model (the label, or the
/// int16 outputs of a values model separated by spaces), from the simulation
/// firmware's `logits | class`: every simulator answers such a model alike.
fn printed_vector_answer(model: &zlmc_ir::Model, reply: &[u8]) -> Result<Vec<u8>, BackendError> {
    let text = String::from_utf8_lossy(reply);
    let bad = || {
        BackendError::Internal(format!(
            "the simulation firmware answered `{text}`, not `logits | class`"
        ))
    };
    let (logits, class) = text.split_once('|').ok_or_else(bad)?;
    if let zlmc_ir::Decode::Values { .. } = model.decode {
        return Ok(logits
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes());
    }
    let class: usize = class.trim().parse().map_err(|_| bad())?;
    model.decode.answer(class).ok_or_else(bad)
}
