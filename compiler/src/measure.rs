//! What a model costs on a target: sizes from the real backend, cycles per
//! inference measured on the target's simulator. Every target-specific call
//! of `zlmc eval` and `zlmc compare` is in [`measure`].

use std::path::Path;

use zlmc_backends::avr::{AvrError, Board};
use zlmc_ir::Model;

use crate::diag::{Diagnostic, Result};
use crate::driver;

/// A target to measure on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasureTarget {
    /// Portable C: generated source size, no cycle count (it runs on the host).
    C,
    /// The CP/M `.COM` on zlmc's Z80 emulator at 4 MHz (text models).
    Z80,
    /// An Arduino board, simulated in simavr.
    Avr(Board),
}

impl MeasureTarget {
    /// How tables and reports name it.
    pub fn name(self) -> String {
        match self {
            MeasureTarget::C => "c".into(),
            MeasureTarget::Z80 => "z80".into(),
            MeasureTarget::Avr(b) => format!("avr {b}"),
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
    /// Bytes the model takes: flash (AVR: tables + code), `.COM` length (Z80),
    /// generated source and header (C).
    pub flash: usize,
    /// Bytes of static RAM the model takes (AVR).
    pub sram: Option<usize>,
    /// Mean cycles (T-states on the Z80) per inference step over the sample.
    pub cycles: Option<f64>,
    /// Milliseconds per inference at the board's clock.
    pub ms: Option<f64>,
    /// Whether it fits the board with the Arduino core and sketch (AVR).
    pub fits: Option<bool>,
    /// Why it does not fit, or what could not be measured.
    pub note: Option<String>,
}

/// Measure an optimized `model` (read from `source`) on `target` over `sample`.
pub fn measure(
    model: &Model,
    source: &Path,
    target: MeasureTarget,
    sample: &Sample,
) -> Result<Measured> {
    match target {
        MeasureTarget::C => {
            let c = zlmc_backends::c::emit(model, &driver::provenance(source))
                .map_err(|e| Diagnostic::in_file(source, format!("cannot generate C: {e}")))?;
            Ok(Measured {
                flash: c.source.len() + c.header.len(),
                ..Measured::default()
            })
        }
        MeasureTarget::Z80 => {
            if !model.takes_text() {
                return Err(Diagnostic::in_file(
                    source,
                    "the Z80 target runs text models only",
                ));
            }
            let z = driver::build_z80(model, source)?;
            let Sample::Queries(qs) = sample else {
                return Err(Diagnostic::new("a text model is timed on queries"));
            };
            let mut steps = Vec::new();
            for q in qs.iter().filter(|q| !q.is_empty()) {
                let r = crate::simulate::z80_reply(&z.com, z.step_entry, q)?;
                steps.extend(r.steps);
            }
            let cycles = mean(&steps);
            Ok(Measured {
                flash: z.com.len(),
                cycles,
                ms: cycles.map(|c| c / 4000.0),
                ..Measured::default()
            })
        }
        MeasureTarget::Avr(board) => measure_avr(model, source, board, sample),
    }
}

fn mean(v: &[u64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<u64>() as f64 / v.len() as f64)
}

fn measure_avr(model: &Model, source: &Path, board: Board, sample: &Sample) -> Result<Measured> {
    let files = match zlmc_backends::avr::emit(model, &driver::provenance(source), board) {
        Ok(f) => f,
        Err(AvrError::TooBig { message, .. }) => {
            return Ok(Measured {
                fits: Some(false),
                note: Some(message),
                ..Measured::default()
            })
        }
        Err(e) => {
            return Err(Diagnostic::in_file(
                source,
                format!("cannot generate AVR code: {e}"),
            ))
        }
    };
    let r = &files.report;
    let fits =
        r.model_flash() + r.sketch_flash <= board.flash() && r.sram + r.sketch_sram <= board.sram();
    let lines: Vec<Vec<u8>> = match sample {
        Sample::Queries(q) => q.clone(),
        Sample::Vectors(v) => v
            .iter()
            .map(|x| {
                x.iter()
                    .map(i16::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .into_bytes()
            })
            .collect(),
    };
    let dir = std::env::temp_dir().join(format!(
        "zlmc-measure-{}-{}",
        std::process::id(),
        model.name
    ));
    let run = (|| {
        let fw = crate::simulate::avr_firmware(model, source, board, &dir)?;
        crate::simulate::avr_run(&fw, &lines)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let run = run?;
    let steps: Vec<u64> = run.steps.iter().flatten().copied().collect();
    let cycles = mean(&steps);
    let khz = f64::from(board.f_cpu()) / 1000.0;
    Ok(Measured {
        flash: r.model_flash(),
        sram: Some(r.sram),
        cycles,
        ms: cycles.map(|c| c / khz),
        fits: Some(fits),
        note: None,
    })
}
