//! Snapshots (insta) of what zlmc generates for the project's own examples: the
//! IR after each pass, the API and template files (the C header, the AVR header
//! and sketch), and the frame of each generated model file: its banner, the
//! Z80 runtime front-end, the AVR entry points, the C template around the
//! layers (`zlmc_test_support::parts`). The part a model decides, its layer
//! code and tables, is pinned by the file tests (`tests/filetests/`), so a
//! kernel change shows there and a runtime or template change here. Review
//! changes with `cargo insta review`; they are the diffs users see in pull
//! requests.

use std::path::Path;

use zlmc_test_support::{build, parts, repo};

const EXAMPLES: &[&str] = &["commands"];

fn settings(example: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(repo().join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.set_snapshot_suffix(example);
    s
}

/// The frame of the generated file `name` (see [`parts::frame`]).
fn frame(name: &str, text: &str) -> String {
    parts::frame(name, text).unwrap_or_else(|e| panic!("{e}"))
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
            insta::assert_snapshot!("c-source-frame", frame(&c.source_name, &c.source));
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
                .map(|(n, t)| (n.clone(), t.clone()))
                .expect("generated file")
        };
        // The Mega 2560's entry points read flash with elpm.
        let far = build::avr(&model, Path::new(&rel), build::Board::Mega2560).expect("AVR");
        let far_asm = frame(&format!("{}_model.S", model.name), &far.asm);
        settings(ex).bind(|| {
            let (name, asm) = file("_model.S");
            insta::assert_snapshot!("avr-model-s-frame", frame(&name, &asm));
            insta::assert_snapshot!("avr-model-s-frame-mega2560", far_asm);
            insta::assert_snapshot!("avr-model-h", file("_model.h").1);
            insta::assert_snapshot!("avr-sketch-ino", file(".ino").1);
        });
    }
}

#[test]
fn z80_backend() {
    for ex in EXAMPLES {
        let (rel, model) = optimized(ex);
        let z = build::z80(&model, Path::new(&rel)).expect("Z80");
        let asm = frame(&z.asm_name, &z.asm);
        settings(ex).bind(|| insta::assert_snapshot!("z80-asm-frame", asm));
    }
}
