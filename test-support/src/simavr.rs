//! Random models checked in simavr against the interpreter, line by line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use zlmc_backends::avr::sim::run as avr_run;
use zlmc_ir::{interp, Model};

use crate::build::{avr_firmware, AvrFirmware, Board};

/// A model, the lines typed into it, the answers expected, and its board.
pub type Job = (Model, Vec<Vec<u8>>, Vec<String>, Board);

/// The lines typing `inputs` into a raw-input model and the interpreter's answers.
pub fn vector_cases(m: &Model, inputs: &[Vec<i16>]) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut lines = Vec::new();
    let mut want = Vec::new();
    for x in inputs {
        let r = interp::step(&m.graph, x);
        let line: Vec<String> = x.iter().map(i16::to_string).collect();
        lines.push(line.join(" ").into_bytes());
        let mut s = String::new();
        for (i, l) in r.logits.iter().enumerate() {
            let _ = write!(s, "{}{l}", if i > 0 { " " } else { "" });
        }
        let _ = write!(s, " | {}", r.class);
        want.push(s);
    }
    (lines, want)
}

/// Runs zlmc's passes on `m`: all of them, or (`unfused`) all but those that
/// fuse the epilogue and drop or compress weights, keeping the plain graph.
pub fn optimize(m: &mut Model, unfused: bool) {
    let disabled: Vec<String> = if unfused {
        ["dead-neurons", "fuse-epilogue", "sparse-weights"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        Vec::new()
    };
    zlmc::driver::optimize(m, &disabled, |_, _| {}).expect("passes");
}

/// Build for `board`, or for the Mega 2560 if the model does not fit it.
pub fn firmware(m: &Model, board: Board, dir: &Path) -> AvrFirmware {
    match avr_firmware(m, Path::new("random"), board, dir) {
        Ok(fw) => fw,
        Err(d) if d.message.contains("does not fit") && board != Board::Mega2560 => {
            firmware(m, Board::Mega2560, dir)
        }
        Err(d) => panic!("{}: {d}", m.name),
    }
}

/// Runs each job's firmware (built under `dir`) and asserts every answer is
/// the expected one; returns the lines checked.
pub fn check_models(dir: PathBuf, jobs: Vec<Job>) -> usize {
    let mut checked = 0;
    for (m, lines, want, board) in jobs {
        let fw = firmware(&m, board, &dir.join(&m.name));
        let got = avr_run(&fw, &lines).unwrap_or_else(|d| panic!("{}: {d}", m.name));
        for ((line, g), w) in lines.iter().zip(&got.answers).zip(&want) {
            assert_eq!(
                String::from_utf8_lossy(g),
                *w,
                "model {} on {} ({:?}), line {:?} (files in {})",
                m.name,
                fw.board,
                fw.mode,
                String::from_utf8_lossy(line),
                dir.join(&m.name).display()
            );
            checked += 1;
        }
    }
    checked
}

/// [`check_models`] on two threads (the machines have two cores), in `dir/a`
/// and `dir/b`; the lines checked.
pub fn check_in_two(dir: &Path, mut jobs: Vec<Job>) -> usize {
    let half = jobs.split_off(jobs.len() / 2);
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::thread::scope(|s| {
        let h = s.spawn(move || check_models(a, half));
        check_models(b, jobs) + h.join().expect("worker")
    })
}
