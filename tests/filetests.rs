//! File tests, Cranelift style: each `tests/filetests/**/*.zir` holds a model,
//! the pass to apply (`; test: PASS`, or `pipeline` for all of them), run lines
//! (`; run: INPUTS -> LOGITS | CLASS`) that must hold before and after, and,
//! after a `; expect:` line, the exact IR the pass must produce.
//! `ZLMC_BLESS=1 cargo test --test filetests` rewrites the expectations.

use std::path::{Path, PathBuf};

use zlmc_ir::interp;
use zlmc_ir::text::{parse_model, print_model};
use zlmc_ir::Model;

const EXPECT: &str = "; expect:\n";

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

fn run_file(file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).unwrap();
    let (input, expect) = text.split_once(EXPECT).ok_or("no `; expect:` line")?;
    let pass = input
        .lines()
        .find_map(|l| l.strip_prefix("; test:"))
        .ok_or("no `; test:` line")?
        .trim()
        .to_string();
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
    if std::env::var_os("ZLMC_BLESS").is_some() {
        std::fs::write(file, format!("{input}{EXPECT}{printed}")).unwrap();
        return Ok(());
    }
    if printed != expect {
        return Err(format!(
            "IR after {pass} differs.\n--- expected\n{expect}\n--- got\n{printed}"
        ));
    }
    let reparsed = parse_model(expect).map_err(|e| format!("expectation: {e}"))?;
    check_runs(&reparsed, &runs, file, "in the expectation");
    Ok(())
}

#[test]
fn filetests() {
    let mut all = Vec::new();
    files(&zlmc_test_support::repo().join("tests/filetests"), &mut all);
    assert!(all.len() >= 6, "the file tests are there");
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
