//! File tests, Cranelift style: each `tests/filetests/**/*.zir` holds a model
//! and what must come of it. Pass tests: the pass to apply (`; test: PASS`, or
//! `pipeline` for all of them), run lines (`; run: INPUTS -> LOGITS | CLASS`)
//! that must hold before and after, and, after a `; expect:` line, the exact IR
//! the pass must produce. Backend tests (`; test: target c`, `target z80`,
//! `target avr-uno`, …): after each `; expect: FILE` line, the exact text of a
//! file the backend generates for the model as written.
//! `ZLMC_BLESS=1 cargo test --test filetests` rewrites the expectations; a
//! mismatch prints a diff.

use std::path::{Path, PathBuf};

use zlmc_ir::interp;
use zlmc_ir::text::{parse_model, print_model};
use zlmc_ir::Model;
use zlmc_test_support::build::{self, Target};
use zlmc_test_support::filecheck::{blessing, check};
use zlmc_test_support::repo;

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

/// A backend test: the files `target` generates for the model, each exactly as expected.
fn run_target_file(file: &Path, text: &str, target: &str) -> Result<(), String> {
    let target = Target::parse(target).ok_or(format!("unknown target {target}"))?;
    let at = text
        .find(&format!("\n{EXPECT_FILE}"))
        .map(|i| i + 1)
        .unwrap_or(text.len());
    let (input, expect) = text.split_at(at);
    let model = parse_model(input).map_err(|e| format!("input: {e}"))?;
    let source = file.strip_prefix(repo()).unwrap_or(file);
    let got = build::files(&model, target, source)?;
    if blessing() {
        let mut out = input.to_string();
        for (name, text) in &got {
            out.push_str(&format!("{EXPECT_FILE}{name}\n{text}"));
        }
        std::fs::write(file, out).unwrap();
        return Ok(());
    }
    // The sections: a `; expect: FILE` line, then the file's text.
    let mut want: Vec<(String, String)> = Vec::new();
    for line in expect.split_inclusive('\n') {
        match line.strip_prefix(EXPECT_FILE) {
            Some(name) => want.push((name.trim().to_string(), String::new())),
            None => want
                .last_mut()
                .ok_or("no `; expect: FILE` line")?
                .1
                .push_str(line),
        }
    }
    let names = |v: &[(String, String)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    if names(&want) != names(&got) {
        return Err(format!(
            "generated files {:?}, expected {:?} (ZLMC_BLESS=1 rewrites them)",
            names(&got),
            names(&want)
        ));
    }
    let diffs: Vec<String> = want
        .iter()
        .zip(&got)
        .filter_map(|((name, w), (_, g))| check(name, w, g).err())
        .collect();
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
    assert!(all.len() >= 7, "the file tests are there");
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
