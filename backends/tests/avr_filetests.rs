//! Precise-output file tests of the AVR backend, Cranelift style: each
//! `tests/filetests/avr/NAME.zir` holds a model (and a `; board: B` line), and
//! `NAME.S.expected` beside it the exact assembly the backend writes (not
//! named `.S`: it is output, not source to build or to lint for repeats). A change of the
//! generator shows as a diff here; `ZLMC_BLESS=1 cargo test --test
//! avr_filetests` rewrites the expectations on purpose.

use std::path::Path;

use zlmc_backends::avr::{emit, Board};
use zlmc_backends::Provenance;
use zlmc_ir::text::parse_model;
use zlmc_test_support::filecheck::{expect, zir_files};

/// The board a file names, the Uno if none.
fn board(source: &str) -> Board {
    let name = source
        .lines()
        .find_map(|l| l.strip_prefix("; board:"))
        .map(str::trim)
        .unwrap_or("uno");
    *Board::ALL
        .iter()
        .find(|b| b.name() == name)
        .unwrap_or_else(|| panic!("unknown board {name}"))
}

/// The assembly for a `.zir` file, or why it cannot be built.
fn generate(file: &Path) -> Result<String, String> {
    let source = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let model = parse_model(&source).map_err(|e| format!("parse: {e}"))?;
    let prov = Provenance {
        version: "filetest".into(),
        source: file.file_name().unwrap().to_string_lossy().into_owned(),
    };
    let model = zlmc_backends::target::Verified::new(&model).map_err(|e| e.to_string())?;
    let files = emit(&model, &prov, board(&source)).map_err(|e| e.to_string())?;
    Ok(files.asm)
}

#[test]
fn avr_precise_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests/avr");
    let mut failed = Vec::new();
    for zir in zir_files(&dir) {
        let got = generate(&zir).unwrap_or_else(|e| panic!("{}: {e}", zir.display()));
        let expected_file = zir.with_extension("S.expected");
        let want = std::fs::read_to_string(&expected_file).unwrap_or_default();
        let what = expected_file.display().to_string();
        let bless = |got: &str| std::fs::write(&expected_file, got).expect("write the expectation");
        expect(&what, &want, &got, bless, &mut failed);
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
