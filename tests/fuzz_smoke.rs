//! A bounded, deterministic fuzz smoke test on stable Rust: seeded mutations of
//! the valid inputs the tests already have go through load → optimize → every
//! target's emission → `run` with one prompt. Nothing may panic, report an
//! internal error, take long, or write anything when it fails.
//!
//! `ZLMC_FUZZ_EXECS=N` sets the number of executions (default 300, a few seconds);
//! `ZLMC_FUZZ_SEED=S` the seed. A long local run:
//! `ZLMC_FUZZ_EXECS=1000000 cargo test --release --test fuzz_smoke -- --nocapture`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zlmc_backends::target::{Options, TARGETS};
use zlmc_test_support::{repo, scratch, zlmc, Rng};

/// The seed inputs: (file name, bytes). Spec mutations keep the example's weights beside them.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let ex = repo().join("examples/commands");
    out.push((
        "model.yaml".into(),
        std::fs::read(ex.join("model.yaml")).unwrap(),
    ));
    out.push((
        "model.npz".into(),
        std::fs::read(ex.join("model.npz")).unwrap(),
    ));
    let mut dirs = vec![repo().join("tests/filetests")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "zir") {
                out.push(("model.zir".into(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

const INTERESTING: &[&str] = &[
    "0",
    "-1",
    "1",
    "255",
    "256",
    "65535",
    "65536",
    "131072",
    "2147483648",
    "4294967296",
    "99999999999999999999",
    "-32769",
    "[",
    "{",
    "\"",
    "\n",
    ":",
    "%",
    "'",
];

/// One mutation of `data`: flips, splices of interesting tokens, deletions, duplications.
fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..rng.range(1, 4) {
        if d.is_empty() {
            d.push(b'0');
        }
        let at = rng.range(0, d.len() as i64 - 1) as usize;
        match rng.range(0, 5) {
            0 => d[at] ^= 1 << rng.range(0, 7),
            1 => d[at] = rng.range(0, 255) as u8,
            2 => {
                // Replace a run of digits (or insert) with an interesting token.
                let end = (at..d.len())
                    .find(|&i| !d[i].is_ascii_digit())
                    .unwrap_or(d.len());
                let tok = rng.pick(INTERESTING).as_bytes().to_vec();
                d.splice(at..end, tok);
            }
            3 => {
                let end = (at + rng.range(1, 64) as usize).min(d.len());
                d.drain(at..end);
            }
            _ => {
                let end = (at + rng.range(1, 64) as usize).min(d.len());
                let chunk = d[at..end].to_vec();
                d.splice(at..at, chunk);
            }
        }
    }
    d
}

/// Load, optimize, emit for every target and run one prompt on `path`.
fn exercise(path: &Path) -> Result<(), String> {
    let check = |what: &str, text: String| {
        if text.contains("internal error") {
            Err(format!("{what}: {text}"))
        } else {
            Ok(())
        }
    };
    let mut model = match zlmc::driver::load(path) {
        Ok(m) => m,
        Err(d) => return check("load", d.to_string()),
    };
    if let Err(d) = zlmc::driver::optimize(&mut model, &[], |_, _| {}) {
        return check("optimize", d.to_string());
    }
    for t in TARGETS {
        let board = t.boards().first().map(|b| b.name);
        if let Err(d) = zlmc::driver::emit(*t, &model, path, Options { board }) {
            check(t.name(), d.to_string())?;
        }
    }
    let r = zlmc(
        &["run", path.to_str().unwrap(), "--prompt", "lights on"],
        "",
    );
    if ![0, 1].contains(&r.code) {
        return Err(format!("run exited {}: {}", r.code, r.stderr));
    }
    check("run", r.stderr)
}

#[test]
fn mutated_inputs_fail_cleanly() {
    let execs: u64 = std::env::var("ZLMC_FUZZ_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("ZLMC_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let scratch_dir = scratch(&format!("fuzz-smoke-{seed}"));
    let dir: PathBuf = scratch_dir.path().to_path_buf();
    let ex = repo().join("examples/commands");
    let seeds = seeds();
    assert!(seeds.len() >= 4, "seed inputs missing");
    let mut rng = Rng::new(seed);
    let mut slowest = Duration::ZERO;
    for i in 0..execs {
        let (name, data) = &seeds[(i as usize) % seeds.len()];
        let bytes = mutate(&mut rng, data);
        // A mutated spec uses the real weights; mutated weights use the real spec.
        std::fs::copy(ex.join("model.yaml"), dir.join("model.yaml")).unwrap();
        std::fs::copy(ex.join("model.npz"), dir.join("model.npz")).unwrap();
        std::fs::write(dir.join(name), &bytes).unwrap();
        let path = dir.join(if name == "model.zir" {
            "model.zir"
        } else {
            "model.yaml"
        });
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| exercise(&path)));
        let took = t.elapsed();
        slowest = slowest.max(took);
        let keep = || {
            let f = dir.join(format!("finding-{seed}-{i}-{name}"));
            std::fs::write(&f, &bytes).unwrap();
            f
        };
        match r {
            Ok(Ok(())) => {}
            Ok(Err(m)) => panic!("exec {i}: {m} (input kept in {})", keep().display()),
            Err(_) => panic!("exec {i} panicked (input kept in {})", keep().display()),
        }
        assert!(
            took < Duration::from_secs(10),
            "exec {i} took {took:?}: {}",
            keep().display()
        );
    }
    eprintln!("fuzz smoke: {execs} executions, seed {seed}, slowest {slowest:?}");
}
