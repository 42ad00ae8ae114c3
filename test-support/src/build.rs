//! Every way a test builds code for a target goes through here, so a change in
//! how zlmc builds for a target (the target registry) touches this file alone.

use std::path::{Path, PathBuf};

pub use zlmc_backends::avr::sim::AvrFirmware;
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

/// Both assemblers (z80asm, pasmo) turn `z`'s assembly (of model `name`)
/// into zlmc's .COM, byte for byte.
pub fn assert_assemblers_agree(z: &Z80Files, name: &str) {
    for tool in crate::tools::Z80Asm::ALL {
        let bytes = crate::tools::z80_assemble(tool, &z.asm)
            .unwrap_or_else(|e| panic!("{} on {name}: {e}", z.asm_name))
            .bytes;
        assert!(
            bytes == z.com,
            "{} disagrees with zlmc on {name}",
            tool.name()
        );
    }
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
) -> Result<AvrFirmware, zlmc::Diagnostic> {
    let v = zlmc_backends::target::Verified::new(model).map_err(diagnostic)?;
    zlmc_backends::avr::sim::firmware(&v, &provenance(source), board, dir).map_err(diagnostic)
}
