//! The AVR target in the registry: an Arduino sketch folder for one of the
//! boards, simulated in simavr inside zlmc's firmware (`sim.rs`).

use super::Board;
use crate::target::{BoardInfo, Emitted, Job, Options, Plan, SimRun, Simulator, Target, Verified};
use crate::{BackendError, Provenance};

/// The `avr` target.
pub struct AvrTarget;

/// The registry's entry for the AVR target.
pub static AVR_TARGET: AvrTarget = AvrTarget;

/// The boards, as `--board` lists them.
static BOARDS: [BoardInfo; 4] = [
    BoardInfo {
        name: "uno",
        about: "Arduino Uno (ATmega328P, 16 MHz)",
    },
    BoardInfo {
        name: "nano",
        about: "Arduino Nano (ATmega328P, 16 MHz)",
    },
    BoardInfo {
        name: "lilypad",
        about: "LilyPad Arduino (ATmega328P, 8 MHz)",
    },
    BoardInfo {
        name: "mega2560",
        about: "Arduino Mega 2560 (ATmega2560, 16 MHz)",
    },
];

/// The board the options name (checked against [`BOARDS`] by the caller).
pub fn board(opts: Options) -> Result<Board, BackendError> {
    let name = opts
        .board
        .ok_or_else(|| BackendError::unsupported("the AVR target needs a board"))?;
    Board::from_name(name)
        .ok_or_else(|| BackendError::Unsupported(format!("unknown board `{name}`")))
}

/// Build the sketch for a verified model.
pub fn build(
    model: &Verified,
    prov: &Provenance,
    board: Board,
) -> Result<super::AvrFiles, BackendError> {
    super::emit(model, prov, board)
}

impl Target for AvrTarget {
    fn name(&self) -> &'static str {
        "avr"
    }

    fn about(&self) -> &'static str {
        "an Arduino sketch (NAME/NAME.ino, NAME_model.S, NAME_model.h); needs --board"
    }

    fn boards(&self) -> &'static [BoardInfo] {
        &BOARDS
    }

    fn emit(&self, job: &Job) -> Result<Emitted, BackendError> {
        let a = build(job.model, job.prov, board(job.opts)?)?;
        let r = &a.report;
        let plan = Plan {
            flash: Some(r.model_flash()),
            ram: Some(r.sram),
            cycles: None,
            summary: r.summary(),
        };
        Ok(Emitted {
            folder: Some(a.dir_name),
            files: a
                .files
                .into_iter()
                .map(|(n, t)| (n, t.into_bytes()))
                .collect(),
            plan,
        })
    }

    fn simulator(&self) -> Option<&'static dyn Simulator> {
        Some(&AVR_TARGET)
    }
}

impl Simulator for AvrTarget {
    fn run(&self, job: &Job, queries: &[Vec<u8>]) -> Result<SimRun, BackendError> {
        let board = board(job.opts)?;
        let dir = tempfile::Builder::new()
            .prefix("zlmc-avr-sim-")
            .tempdir()
            .map_err(|e| BackendError::Internal(format!("cannot make a scratch folder: {e}")))?;
        let fw = super::sim::firmware(job.model, job.prov, board, dir.path())?;
        let r = super::sim::run(&fw, queries)?;
        let size = crate::sim::avr::avr_size(&fw.elf)
            .map_err(|e| BackendError::Internal(format!("cannot size the firmware: {e}")))?;
        let summary = super::sim::summary(&fw, queries, &r, size.flash(), size.static_ram());
        Ok(SimRun {
            answers: r
                .answers
                .into_iter()
                .zip(r.steps)
                .map(|(reply, steps)| crate::target::Answer { reply, steps })
                .collect(),
            summary,
        })
    }
}
