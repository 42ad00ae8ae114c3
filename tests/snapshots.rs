//! Snapshots (insta) of what zlmc generates for the project's own examples:
//! the IR after each pass and the C, AVR and Z80 backends' files. Review changes with
//! `cargo insta review`; they are the diffs users see in pull requests.

use std::path::Path;

use zlmc_test_support::{build, repo};

const EXAMPLES: &[&str] = &["commands"];

fn settings(example: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(repo().join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.set_snapshot_suffix(example);
    s
}

/// The example's spec (relative to the repository) and its optimized model.
fn optimized(example: &str) -> (String, zlmc_ir::Model) {
    let rel = format!("examples/{example}/model.yaml");
    let mut model = zlmc::driver::load(&repo().join(&rel)).expect("example loads");
    zlmc::driver::optimize(&mut model, &[], |_, _| {}).expect("passes");
    (rel, model)
}

#[test]
fn ir_after_each_pass() {
    for ex in EXAMPLES {
        let rel = format!("examples/{ex}/model.yaml");
        let mut model = zlmc::driver::load(&repo().join(&rel)).expect("example loads");
        let prov = zlmc::driver::provenance(Path::new(&rel));
        let mut stages = Vec::new();
        zlmc::driver::optimize(&mut model, &[], |pass, m| {
            stages.push((
                pass.to_string(),
                zlmc::driver::zir_text(m, &prov, &format!("after {pass}")),
            ))
        })
        .expect("passes");
        settings(ex).bind(|| {
            for (pass, text) in &stages {
                insta::assert_snapshot!(format!("ir-after-{pass}"), text);
            }
        });
    }
}

#[test]
fn c_backend() {
    for ex in EXAMPLES {
        let (rel, model) = optimized(ex);
        let c = build::c(&model, Path::new(&rel));
        settings(ex).bind(|| {
            insta::assert_snapshot!("c-header", c.header);
            insta::assert_snapshot!("c-source", c.source);
        });
    }
}

#[test]
fn avr_backend() {
    for ex in EXAMPLES {
        let (rel, model) = optimized(ex);
        let a = build::avr(&model, Path::new(&rel), build::Board::Uno).expect("AVR");
        let file = |suffix: &str| {
            a.files
                .iter()
                .find(|(n, _)| n.ends_with(suffix))
                .map(|(_, t)| t.clone())
                .expect("generated file")
        };
        settings(ex).bind(|| {
            insta::assert_snapshot!("avr-model-s", file("_model.S"));
            insta::assert_snapshot!("avr-model-h", file("_model.h"));
            insta::assert_snapshot!("avr-sketch-ino", file(".ino"));
        });
    }
}

#[test]
fn z80_backend() {
    for ex in EXAMPLES {
        let (rel, model) = optimized(ex);
        let z = build::z80(&model, Path::new(&rel)).expect("Z80");
        settings(ex).bind(|| insta::assert_snapshot!("z80-asm", z.asm));
    }
}
