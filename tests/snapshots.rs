//! Snapshots (insta) of what zlmc generates for the project's own examples:
//! the IR after each pass and the C and AVR backends' files. Review changes with
//! `cargo insta review`; they are the diffs users see in pull requests.

use std::path::Path;

use zlmc_tests::repo;

const EXAMPLES: &[&str] = &["commands"];

fn settings(example: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(repo().join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.set_snapshot_suffix(example);
    s
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
        let rel = format!("examples/{ex}/model.yaml");
        let mut model = zlmc::driver::load(&repo().join(&rel)).expect("example loads");
        zlmc::driver::optimize(&mut model, &[], |_, _| {}).expect("passes");
        let c =
            zlmc_backends::c::emit(&model, &zlmc::driver::provenance(Path::new(&rel))).expect("C");
        settings(ex).bind(|| {
            insta::assert_snapshot!("c-header", c.header);
            insta::assert_snapshot!("c-source", c.source);
        });
    }
}

#[test]
fn avr_backend() {
    for ex in EXAMPLES {
        let rel = format!("examples/{ex}/model.yaml");
        let mut model = zlmc::driver::load(&repo().join(&rel)).expect("example loads");
        zlmc::driver::optimize(&mut model, &[], |_, _| {}).expect("passes");
        let a = zlmc_tests::avr_files(&model, &rel, zlmc_backends::avr::Board::Uno).expect("AVR");
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
