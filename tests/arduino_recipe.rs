//! docs/avr.md's arduino-mk recipe is the one zlmc builds sketches with, and it
//! builds a generated sketch as a user would run it: `make` in the sketch folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use zlmc_backends::avr::Board;
use zlmc_backends::sim::avr::{arduino_board, arduino_mk_recipe, avr_size, ARDUINO_MK};
use zlmc_test_support::{repo, scratch, skip, tinychat, zlmc_build};

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

/// Whether arduino-mk is there; records the skip of `test` when not.
fn have_arduino_mk(test: &str) -> bool {
    let there = Path::new(ARDUINO_MK).exists();
    if !there {
        skip(
            test,
            "Debian's arduino-mk is not installed (scripts/setup.sh installs it)",
        );
    }
    there
}

/// `make` with the documented recipe in a sketch folder; the `.elf` it made.
fn make(sketch: &Path) -> PathBuf {
    std::fs::write(sketch.join("Makefile"), documented_recipe()).unwrap();
    let made = Command::new("make")
        .current_dir(sketch)
        .output()
        .expect("make runs");
    assert!(
        made.status.success(),
        "make failed:\n{}\n{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    let built: Vec<PathBuf> = std::fs::read_dir(sketch.join("build-uno"))
        .expect("arduino-mk made build-uno/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert!(
        built
            .iter()
            .any(|p| p.extension().is_some_and(|x| x == "hex")),
        "no .hex in build-uno/"
    );
    built
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "elf"))
        .expect("an .elf in build-uno/")
}

#[test]
fn docs_recipe_builds_a_generated_sketch_with_make() {
    if !have_arduino_mk("docs_recipe_builds_a_generated_sketch_with_make") {
        return;
    }
    let scratch_dir = scratch("arduino-recipe");
    let out = scratch_dir.path();
    let model = repo().join("examples/commands/model.yaml");
    zlmc_build(&model, "avr", &["--board", "uno"], out);
    make(&out.join("commands"));
}

/// The Arduino IDE warns of low memory above 75 % of SRAM in globals:
/// tinychat's default Uno sketch stays under it, `--sram fast` goes over.
#[test]
fn tinychat_sketch_globals_stay_under_the_ides_warning_by_default() {
    let test = "tinychat_sketch_globals_stay_under_the_ides_warning_by_default";
    if !have_arduino_mk(test) {
        return;
    }
    let Some(t) = tinychat(test) else {
        return;
    };
    let warn_above = Board::Uno.sram() as u64 * 3 / 4;
    for (sram, under) in [("safe", true), ("fast", false)] {
        let out = t.dir.path().join(sram);
        zlmc_build(&t.spec, "avr", &["--board", "uno", "--sram", sram], &out);
        let size = avr_size(&make(&out.join("tinychat"))).expect("avr-size");
        eprintln!(
            "tinychat --sram {sram}: globals {} of {} bytes of SRAM, flash {}",
            size.static_ram(),
            Board::Uno.sram(),
            size.flash()
        );
        assert_eq!(size.static_ram() <= warn_above, under, "--sram {sram}");
    }
}
