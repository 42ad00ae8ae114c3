//! The file tests, Cranelift style: each `tests/filetests/**/*.zir` holds a
//! model and what must come of it. Its `; test:` line says what kind of test:
//!
//! - A pass (`; test: dead-neurons`, or `; test: pipeline` for all of them), in
//!   `passes/PASS/`: run lines (`; run: INPUTS -> LOGITS | CLASS`) that must
//!   hold before and after, and, after a `; expect:` line, the exact IR the
//!   pass must produce.
//! - A target (`; test: target c`, `target z80`, `target zx48`,
//!   `target avr board=uno`), in `target-NAME/`: the model as written is built
//!   through the target registry (`zlmc_backends::target::lookup`, with the
//!   options given as `KEY=VALUE`: `board=`), and after each
//!   `; expect: FILE model` line comes the part of the generated file `FILE`
//!   that the model decides, exactly: the layer code and tables, without the
//!   banner, the runtime front-end, the API entry points or the template
//!   around them (`zlmc_test_support::parts` says where each kind of file is
//!   cut). The frame is pinned once, for the examples, by the insta snapshots
//!   (`tests/snapshots.rs`), so a runtime or template change shows there and a
//!   kernel change in the file tests whose models use the kernel.
//!   `; expect: FILE` (no `model`) pins a whole text file.
//!
//! `ZLMC_BLESS=1 cargo test --test filetests` rewrites the expectations (a
//! target test without `; expect:` lines gets the model part of each generated
//! file that has one); a mismatch prints a diff. See docs/testing.md.

use std::path::{Path, PathBuf};

use zlmc_backends::target::{self, Job, Options, Verified};
use zlmc_backends::Provenance;
use zlmc_ir::interp;
use zlmc_ir::text::{parse_model, print_model};
use zlmc_ir::Model;
use zlmc_test_support::filecheck::{blessing, check};
use zlmc_test_support::{parts, repo};

const EXPECT: &str = "; expect:\n";
/// Starts the expectation of one generated file in a backend test.
const EXPECT_FILE: &str = "; expect: ";

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read filetests")
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "zir") {
            out.push(p);
        }
    }
}

struct Run {
    input: Vec<i16>,
    logits: Vec<i16>,
    class: usize,
}

fn parse_run(line: &str) -> Run {
    let (input, rest) = line
        .split_once("->")
        .expect("run line: INPUTS -> LOGITS | CLASS");
    let (logits, class) = rest
        .split_once('|')
        .expect("run line: INPUTS -> LOGITS | CLASS");
    let nums = |s: &str| {
        s.split_whitespace()
            .map(|t| t.parse().expect("number"))
            .collect()
    };
    Run {
        input: nums(input),
        logits: nums(logits),
        class: class.trim().parse().expect("class"),
    }
}

fn check_runs(model: &Model, runs: &[Run], file: &Path, stage: &str) {
    for r in runs {
        let got = interp::step(&model.graph, &r.input);
        assert_eq!(
            (&got.logits, got.class),
            (&r.logits, r.class),
            "{}: run {:?} {stage}",
            file.display(),
            r.input
        );
    }
}

/// What a target test pins of one generated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selection {
    /// The whole file.
    Whole,
    /// The part its model decides ([`parts::model_part`]).
    Model,
}

/// One `; expect: FILE [model]` section: the file, the selection, the text.
struct Expectation {
    file: String,
    selection: Selection,
    text: String,
}

/// A `; expect: FILE [model]` line's file and selection.
fn parse_expect(line: &str) -> Result<(String, Selection), String> {
    match line.split_whitespace().collect::<Vec<_>>()[..] {
        [file] => Ok((file.to_string(), Selection::Whole)),
        [file, "model"] => Ok((file.to_string(), Selection::Model)),
        _ => Err(format!("`; expect: {line}`: FILE or FILE model")),
    }
}

/// `target NAME [KEY=VALUE…]`: the target's name and its board, if given.
fn parse_target(spec: &str) -> Result<(&str, Option<&str>), String> {
    let mut words = spec.split_whitespace();
    let name = words.next().ok_or("`; test: target` without a name")?;
    let mut board = None;
    for w in words {
        match w.split_once('=') {
            Some(("board", b)) => board = Some(b),
            _ => return Err(format!("unknown target option `{w}` (board=BOARD)")),
        }
    }
    Ok((name, board))
}

/// The text files `target` generates for `model`, through the registry.
fn generate(model: &Model, spec: &str, source: &str) -> Result<Vec<(String, String)>, String> {
    let (name, board) = parse_target(spec)?;
    let target = target::lookup(name).ok_or(format!("unknown target {name}"))?;
    let opts = Options {
        board,
        ..Options::default()
    };
    target::check_options(target, opts).map_err(|e| e.to_string())?;
    // A fixed provenance: the banner names the test, not zlmc's version.
    let prov = Provenance {
        version: "filetest".into(),
        source: source.into(),
    };
    let verified = Verified::new(model).map_err(|e| e.to_string())?;
    let job = Job {
        model: &verified,
        prov: &prov,
        opts,
    };
    let emitted = target.emit(&job).map_err(|e| e.to_string())?;
    Ok(emitted
        .files
        .into_iter()
        .filter_map(|(n, bytes)| String::from_utf8(bytes).ok().map(|t| (n, t)))
        .collect())
}

/// A target test: each expected part of the files the target generates for
/// the model, exactly.
fn run_target_file(file: &Path, text: &str, spec: &str) -> Result<(), String> {
    let at = text
        .find(&format!("\n{EXPECT_FILE}"))
        .map(|i| i + 1)
        .unwrap_or(text.len());
    let (input, expect) = text.split_at(at);
    let model = parse_model(input).map_err(|e| format!("input: {e}"))?;
    let source = file.file_name().unwrap().to_string_lossy();
    let got = generate(&model, spec, &source)?;
    // The sections: a `; expect: FILE [model]` line, then the text.
    let mut want: Vec<Expectation> = Vec::new();
    for line in expect.split_inclusive('\n') {
        match line.strip_prefix(EXPECT_FILE) {
            Some(rest) => {
                let (file, selection) = parse_expect(rest)?;
                want.push(Expectation {
                    file,
                    selection,
                    text: String::new(),
                });
            }
            None => want
                .last_mut()
                .ok_or("no `; expect: FILE` line")?
                .text
                .push_str(line),
        }
    }
    if want.is_empty() && blessing() {
        want = got
            .iter()
            .filter(|(n, t)| parts::model_part(n, t).is_ok())
            .map(|(n, _)| Expectation {
                file: n.clone(),
                selection: Selection::Model,
                text: String::new(),
            })
            .collect();
    }
    if want.is_empty() {
        return Err("no `; expect: FILE` line (ZLMC_BLESS=1 adds them)".into());
    }
    let mut out = input.to_string();
    let mut diffs = Vec::new();
    for w in &want {
        let whole = got
            .iter()
            .find(|(n, _)| *n == w.file)
            .map(|(_, t)| t)
            .ok_or(format!(
                "{} is not among the generated text files {:?}",
                w.file,
                got.iter().map(|f| &f.0).collect::<Vec<_>>()
            ))?;
        let (part, what) = match w.selection {
            Selection::Whole => (whole.clone(), w.file.clone()),
            Selection::Model => (
                parts::model_part(&w.file, whole)?,
                format!("{} (model part)", w.file),
            ),
        };
        let suffix = if w.selection == Selection::Model {
            " model"
        } else {
            ""
        };
        out.push_str(&format!("{EXPECT_FILE}{}{suffix}\n{part}", w.file));
        if let Err(e) = check(&what, &w.text, &part) {
            diffs.push(e);
        }
    }
    if blessing() {
        if out != text {
            std::fs::write(file, out).unwrap();
        }
        return Ok(());
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    }
}

fn run_file(file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).unwrap();
    let pass = text
        .lines()
        .find_map(|l| l.strip_prefix("; test:"))
        .ok_or("no `; test:` line")?
        .trim()
        .to_string();
    if let Some(target) = pass.strip_prefix("target ") {
        return run_target_file(file, &text, target.trim());
    }
    let (input, expect) = text.split_once(EXPECT).ok_or("no `; expect:` line")?;
    let runs: Vec<Run> = input
        .lines()
        .filter_map(|l| l.strip_prefix("; run:"))
        .map(parse_run)
        .collect();
    if runs.is_empty() {
        return Err("no `; run:` lines".into());
    }
    let before = parse_model(input).map_err(|e| format!("input: {e}"))?;
    check_runs(&before, &runs, file, "before the pass");
    let mut after = before.clone();
    let disabled: Vec<String> = if pass == "pipeline" {
        vec![]
    } else {
        zlmc::passes::PASSES
            .iter()
            .map(|p| p.name.to_string())
            .filter(|n| *n != pass && n != "verify")
            .collect()
    };
    if pass != "pipeline" && !zlmc::passes::exists(&pass) {
        return Err(format!("unknown pass {pass}"));
    }
    zlmc::driver::optimize(&mut after, &disabled, |_, _| {}).map_err(|e| e.to_string())?;
    check_runs(&after, &runs, file, &format!("after {pass}"));
    let printed = print_model(&after);
    if blessing() {
        std::fs::write(file, format!("{input}{EXPECT}{printed}")).unwrap();
        return Ok(());
    }
    check(&format!("IR after {pass}"), expect, &printed)?;
    let reparsed = parse_model(expect).map_err(|e| format!("expectation: {e}"))?;
    check_runs(&reparsed, &runs, file, "in the expectation");
    Ok(())
}

#[test]
fn filetests() {
    let mut all = Vec::new();
    files(&repo().join("tests/filetests"), &mut all);
    assert!(all.len() >= 12, "the file tests are there");
    let failures: Vec<String> = all
        .iter()
        .filter_map(|f| run_file(f).err().map(|e| format!("{}: {e}", f.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} file tests failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
    eprintln!("{} file tests passed", all.len());
}
