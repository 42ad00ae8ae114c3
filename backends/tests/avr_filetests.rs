//! Precise-output file tests of the AVR backend, Cranelift style: each
//! `tests/filetests/avr/NAME.zir` holds a model (and a `; board: B` line), and
//! `NAME.S.expected` beside it the exact assembly the backend writes (not
//! named `.S`: it is output, not source to build or to lint for repeats). A change of the
//! generator shows as a diff here; `ZLMC_BLESS=1 cargo test --test
//! avr_filetests` rewrites the expectations on purpose.

use std::path::{Path, PathBuf};

use zlmc_backends::avr::{emit, Board};
use zlmc_backends::Provenance;
use zlmc_ir::text::parse_model;

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
    let files = emit(&model, &prov, board(&source)).map_err(|e| e.to_string())?;
    Ok(files.asm)
}

#[test]
fn avr_precise_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests/avr");
    let mut zirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/filetests/avr")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "zir"))
        .collect();
    zirs.sort();
    assert!(!zirs.is_empty(), "no .zir files in {}", dir.display());
    let bless = std::env::var_os("ZLMC_BLESS").is_some_and(|v| v == "1");
    let mut failed = Vec::new();
    for zir in &zirs {
        let got = generate(zir).unwrap_or_else(|e| panic!("{}: {e}", zir.display()));
        let expected_file = zir.with_extension("S.expected");
        if bless {
            std::fs::write(&expected_file, &got).expect("write the expectation");
            continue;
        }
        let want = std::fs::read_to_string(&expected_file).unwrap_or_default();
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(g, w)| g != w)
                .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
            failed.push(format!(
                "{}: first difference at line {}:\n  got:  {:?}\n  want: {:?}",
                expected_file.display(),
                line + 1,
                got.lines().nth(line).unwrap_or("<end>"),
                want.lines().nth(line).unwrap_or("<end>")
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{}\n(ZLMC_BLESS=1 rewrites the expectations)",
        failed.join("\n")
    );
}
