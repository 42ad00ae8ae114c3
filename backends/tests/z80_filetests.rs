//! Precise-output file tests for the Z80 generator, Cranelift style: each
//! `backends/tests/filetests/z80/*.zir` is an optimized model and, after a
//! `; expect:` line, the exact assembly the generator must write for it
//! (without a runtime front-end, so only zlmc's own code is in it).
//! `ZLMC_BLESS=1 cargo test -p zlmc-backends --test z80_filetests` rewrites
//! the expectations; review the diff before committing it.

use std::path::{Path, PathBuf};

use zlmc_backends::{z80, Provenance};
use zlmc_ir::text::parse_model;

const EXPECT: &str = "; expect:\n";

fn zir_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the Z80 filetests folder")
        .map(|e| e.expect("folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "zir"))
        .collect();
    files.sort();
    files
}

#[test]
fn generated_assembly_is_exactly_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests/z80");
    let bless = std::env::var_os("ZLMC_BLESS").is_some();
    let files = zir_files(&dir);
    assert!(!files.is_empty(), "no .zir files in {}", dir.display());
    let mut failed = Vec::new();
    for zir in files {
        let text = std::fs::read_to_string(&zir).expect("read .zir");
        let (src, want) = text.split_once(EXPECT).unwrap_or((&text, ""));
        let model = parse_model(src).unwrap_or_else(|e| panic!("{}: {e}", zir.display()));
        let prov = Provenance {
            version: "test".into(),
            source: zir.file_name().unwrap().to_string_lossy().into_owned(),
        };
        let got = z80::emit(&model, &prov, "", "")
            .unwrap_or_else(|e| panic!("{}: {e}", zir.display()))
            .asm;
        if bless {
            std::fs::write(&zir, format!("{src}{EXPECT}{got}")).expect("write .zir");
            continue;
        }
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(g, w)| g != w)
                .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
            eprintln!(
                "{}: first difference at line {}:\n  got:  {}\n  want: {}",
                zir.display(),
                line + 1,
                got.lines().nth(line).unwrap_or("<end>"),
                want.lines().nth(line).unwrap_or("<end>")
            );
            failed.push(zir);
        }
    }
    assert!(
        failed.is_empty(),
        "{} file(s) differ (ZLMC_BLESS=1 rewrites them): {failed:?}",
        failed.len()
    );
}
