//! Every way a test builds code for a target goes through here, so a change in
//! how zlmc builds for a target (the target registry) touches this file alone.

use std::path::{Path, PathBuf};

pub use zlmc_backends::avr::{AvrFiles, Board};
pub use zlmc_backends::c::CFiles;
pub use zlmc_backends::z80::Z80Files;
pub use zlmc_backends::Provenance;
use zlmc_ir::Model;

/// Where generated files say they came from, for a model read from `source`.
pub fn provenance(source: &Path) -> Provenance {
    zlmc::driver::provenance(source)
}

/// The C backend's files for `model` with an explicit provenance.
pub fn c_with(model: &Model, prov: &Provenance) -> Result<CFiles, String> {
    let v = zlmc_backends::target::Verified::new(model).map_err(|e| e.to_string())?;
    zlmc_backends::c::emit(&v, prov).map_err(|e| e.to_string())
}

/// The C backend's files for `model`, read from `source`; panics on an error.
pub fn c(model: &Model, source: &Path) -> CFiles {
    c_with(model, &provenance(source)).unwrap_or_else(|e| panic!("C for {}: {e}", model.name))
}

/// The Z80 CP/M program for an optimized `model` read from `source`.
pub fn z80(model: &Model, source: &Path) -> Result<Z80Files, zlmc::Diagnostic> {
    let v = zlmc_backends::target::Verified::new(model).map_err(diagnostic)?;
    zlmc_backends::z80::target::build(&v, &provenance(source)).map_err(diagnostic)
}

/// A backend error as the diagnostic zlmc would print.
fn diagnostic(e: zlmc_backends::BackendError) -> zlmc::Diagnostic {
    match e {
        zlmc_backends::BackendError::TooBig { message, help } => {
            zlmc::Diagnostic::new(message).help(help)
        }
        e => zlmc::Diagnostic::new(e.to_string()),
    }
}

/// The Arduino sketch for an optimized `model` read from `source`, on `board`.
pub fn avr(model: &Model, source: &Path, board: Board) -> Result<AvrFiles, zlmc::Diagnostic> {
    let v = zlmc_backends::target::Verified::new(model).map_err(diagnostic)?;
    zlmc_backends::avr::target::build(&v, &provenance(source), board).map_err(diagnostic)
}

/// A target the tests build for, by the name file tests give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Portable C: `NAME.h` and `NAME.c`.
    C,
    /// Z80 assembly for CP/M: `NAME.asm` (the `.COM` is its bytes).
    Z80,
    /// An Arduino sketch for a board: `NAME.ino`, `NAME_model.S`, `NAME_model.h`.
    Avr(Board),
}

impl Target {
    /// `c`, `z80`, or `avr-BOARD` (`avr-uno`, `avr-mega2560`, …).
    pub fn parse(name: &str) -> Option<Target> {
        match name {
            "c" => Some(Target::C),
            "z80" => Some(Target::Z80),
            _ => {
                let board = name.strip_prefix("avr-")?;
                Board::ALL
                    .into_iter()
                    .find(|b| b.name() == board)
                    .map(Target::Avr)
            }
        }
    }
}

/// The text files generated for `model` on `target`, as `(file name, contents)`.
pub fn files(
    model: &Model,
    target: Target,
    source: &Path,
) -> Result<Vec<(String, String)>, String> {
    match target {
        Target::C => {
            let f = c_with(model, &provenance(source)).map_err(|e| e.to_string())?;
            Ok(vec![(f.header_name, f.header), (f.source_name, f.source)])
        }
        Target::Z80 => {
            let f = z80(model, source).map_err(|e| e.to_string())?;
            Ok(vec![(f.asm_name, f.asm)])
        }
        Target::Avr(board) => Ok(avr(model, source, board).map_err(|e| e.to_string())?.files),
    }
}

/// Writes `files` into `dir`; returns their paths.
pub fn write_files(dir: &Path, files: &[(String, String)]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            path
        })
        .collect()
}

/// Writes the C files for `model` into `dir` (explicit provenance); returns the source's path.
pub fn write_c(dir: &Path, model: &Model, prov: &Provenance) -> PathBuf {
    let f = c_with(model, prov).unwrap_or_else(|e| panic!("emit {}: {e}", model.name));
    std::fs::write(dir.join(&f.header_name), &f.header).expect("write header");
    let src = dir.join(&f.source_name);
    std::fs::write(&src, &f.source).expect("write source");
    src
}

/// zlmc's simulator firmware for an optimized `model` on `board`, built in `dir`
/// (the model's AVR code and the serial front-end, compiled with avr-gcc).
pub fn avr_firmware(
    model: &Model,
    source: &Path,
    board: Board,
    dir: &Path,
) -> Result<zlmc::commands::sim::AvrFirmware, zlmc::Diagnostic> {
    zlmc::commands::sim::avr_firmware(model, source, board, dir)
}
