//! Precise-output file tests for the Z80 generator, Cranelift style: each
//! `backends/tests/filetests/z80/*.zir` is an optimized model and, after a
//! `; expect:` line, the exact assembly the generator must write for it
//! (without a runtime front-end, so only zlmc's own code is in it).
//! `ZLMC_BLESS=1 cargo test -p zlmc-backends --test z80_filetests` rewrites
//! the expectations; review the diff before committing it.

use std::path::Path;

use zlmc_backends::{z80, Provenance};
use zlmc_ir::text::parse_model;
use zlmc_test_support::filecheck::{expect, zir_files};

const EXPECT: &str = "; expect:\n";

#[test]
fn generated_assembly_is_exactly_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests/z80");
    let mut failed = Vec::new();
    for zir in zir_files(&dir) {
        let text = std::fs::read_to_string(&zir).expect("read .zir");
        let (src, want) = text.split_once(EXPECT).unwrap_or((&text, ""));
        let model = parse_model(src).unwrap_or_else(|e| panic!("{}: {e}", zir.display()));
        let prov = Provenance {
            version: "test".into(),
            source: zir.file_name().unwrap().to_string_lossy().into_owned(),
        };
        let verified = zlmc_backends::target::Verified::new(&model)
            .unwrap_or_else(|e| panic!("{}: {e}", zir.display()));
        let got = z80::emit(&verified, &prov, "", "")
            .unwrap_or_else(|e| panic!("{}: {e}", zir.display()))
            .asm;
        let what = zir.display().to_string();
        let bless =
            |got: &str| std::fs::write(&zir, format!("{src}{EXPECT}{got}")).expect("write .zir");
        expect(&what, want, &got, bless, &mut failed);
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
