//! docs/avr.md's arduino-mk recipe is the one zlmc builds sketches with, and it
//! builds a generated sketch as a user would run it: `make` in the sketch folder.

use std::path::Path;
use std::process::Command;

use zlmc_backends::sim::avr::{arduino_board, arduino_mk_recipe, ARDUINO_MK};
use zlmc_test_support::{repo, scratch, skip, zlmc_build};

/// The ```make block of docs/avr.md.
fn documented_recipe() -> String {
    let doc = std::fs::read_to_string(repo().join("docs/avr.md")).expect("docs/avr.md");
    let start = doc
        .find("```make\n")
        .expect("docs/avr.md has a ```make block")
        + 8;
    let len = doc[start..].find("```").expect("the block ends");
    doc[start..start + len].to_string()
}

#[test]
fn docs_recipe_is_the_uno_recipe() {
    let uno = arduino_board("uno").and_then(|b| b.arduino).expect("uno");
    assert_eq!(documented_recipe(), arduino_mk_recipe(&uno, ""));
}

#[test]
fn docs_recipe_builds_a_generated_sketch_with_make() {
    if !Path::new(ARDUINO_MK).exists() {
        skip(
            "docs_recipe_builds_a_generated_sketch_with_make",
            "Debian's arduino-mk is not installed (scripts/setup.sh installs it)",
        );
        return;
    }
    let scratch_dir = scratch("arduino-recipe");
    let out = scratch_dir.path();
    let model = repo().join("examples/commands/model.yaml");
    zlmc_build(&model, "avr", &["--board", "uno"], out);
    let sketch = out.join("commands");
    std::fs::write(sketch.join("Makefile"), documented_recipe()).unwrap();
    let made = Command::new("make")
        .current_dir(&sketch)
        .output()
        .expect("make runs");
    assert!(
        made.status.success(),
        "make failed:\n{}\n{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    let hex = std::fs::read_dir(sketch.join("build-uno"))
        .expect("arduino-mk made build-uno/")
        .filter_map(|e| e.ok())
        .any(|e| e.path().extension().is_some_and(|x| x == "hex"));
    assert!(hex, "no .hex in build-uno/");
}
