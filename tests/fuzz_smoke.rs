//! A bounded, deterministic fuzz smoke test on stable Rust: seeded mutations of
//! the valid inputs the tests already have (the example's spec, its weights as
//! `.npz` and as `.safetensors`, every `.zir` file test, the ONNX fixtures and a
//! model with its weights in an external data file) go through load (ONNX:
//! `import onnx` with calibration) → optimize → every target's emission →
//! `build` to one target → `run` with one prompt. Nothing may panic, report an
//! internal error, do much work (counted in bytes allocated), or write anything
//! when it fails.
//!
//! A second, seeded run puts long and odd prompts (127, 128 and 200 bytes, `!`
//! first, tabs, non-ASCII, empty) and models with long names to `sim` on every
//! target with a simulator: each is answered or refused, never an internal error.
//!
//! `ZLMC_FUZZ_EXECS=N` sets the number of executions (default 300, a few seconds);
//! `ZLMC_FUZZ_SEED=S` the seed. A long local run:
//! `ZLMC_FUZZ_EXECS=1000000 cargo test --release --test fuzz_smoke -- --nocapture`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use zlmc::frontend::tensors::TensorData;
use zlmc_backends::target::{Options, Target, TARGETS};
use zlmc_test_support::alloc::{measure, Counting};
use zlmc_test_support::onnx::write_external_mlp;
use zlmc_test_support::weights::{write_safetensors, Array};
use zlmc_test_support::{repo, scratch, zlmc, Rng};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most one execution may allocate in all, a measure of the work it
/// does: about 6 times the most seen in 6,300 executions (10 MB).
const EXEC_BYTES: u64 = 64 << 20;

/// The seed inputs: (file name, bytes). A mutated spec keeps the example's weights
/// beside it; mutated weights go with the example's spec (`model.yaml` for `.npz`,
/// [`SAFETENSORS_SPEC`] for `.safetensors`).
fn seeds(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let ex = repo().join("examples/commands");
    let spec = std::fs::read_to_string(ex.join("model.yaml")).unwrap();
    out.push(("model.yaml".into(), spec.clone().into_bytes()));
    out.push((
        "model.npz".into(),
        std::fs::read(ex.join("model.npz")).unwrap(),
    ));
    let st = dir.join("seed.safetensors");
    let arrays = arrays_of(&ex.join("model.npz"));
    let named: Vec<(&str, Array)> = arrays
        .iter()
        .map(|(n, a)| (n.as_str(), a.clone()))
        .collect();
    write_safetensors(&st, &named);
    out.push(("model.safetensors".into(), std::fs::read(&st).unwrap()));
    std::fs::write(
        dir.join(SAFETENSORS_SPEC),
        spec.replace("weights: model.npz", "weights: model.safetensors"),
    )
    .unwrap();
    // ONNX models (the importer's fixtures, good and bad), each with its calibration data.
    let fx = repo().join("tests/fixtures/onnx");
    let mut onnx: Vec<PathBuf> = std::fs::read_dir(&fx)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
        .collect();
    onnx.sort();
    for p in onnx {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, std::fs::read(&p).unwrap()));
    }
    // Weights in a data file beside the model, as PyTorch 2 exports them: mutations
    // of the model's `location`, `offset` and `length` must be refused cleanly.
    // Five inputs, to calibrate on `handmade_gemm.io.npz` (see `calibration`).
    let ext = write_external_mlp(dir, EXTERNAL_SEED, 5);
    out.push((
        format!("{EXTERNAL_SEED}.onnx"),
        std::fs::read(&ext).unwrap(),
    ));
    let mut dirs = vec![repo().join("tests/filetests")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "zir") {
                // A file test's model, without the expected output after it.
                let text = std::fs::read_to_string(&p).unwrap();
                let model = text.split("\n; expect:").next().unwrap_or_default();
                out.push(("model.zir".into(), model.as_bytes().to_vec()));
            }
        }
    }
    out
}

/// The ONNX seed built here with external data (`external.onnx` + `external.onnx.data`).
const EXTERNAL_SEED: &str = "external";

/// Calibration data for a mutated ONNX fixture: its own, or (for the bad ones)
/// another's, whose mismatch is one more error to report cleanly.
fn calibration(fixture: &str) -> PathBuf {
    let fx = repo().join("tests/fixtures/onnx");
    let own = fx.join(fixture.replace(".onnx", ".io.npz"));
    if own.exists() {
        own
    } else {
        fx.join("handmade_gemm.io.npz")
    }
}

/// `import onnx` of `path`: a clean error writes nothing; an imported model goes on
/// through [`exercise`]. Whether it imported.
fn exercise_onnx(path: &Path, target: &dyn Target, out: &Path) -> Result<bool, String> {
    let fixture = path.file_name().unwrap().to_string_lossy();
    let (onnx, data) = (path.to_str().unwrap(), calibration(&fixture));
    let data = data.to_str().unwrap();
    let dest = out.with_extension("import");
    let dest_s = dest.to_str().unwrap();
    let args = [
        "import",
        "onnx",
        onnx,
        "--calibrate",
        data,
        "--weights",
        "int8",
        "-o",
        dest_s,
    ];
    let r = zlmc(&args, "");
    match r.code {
        0 => {
            let result = exercise(&dest.join("model.yaml"), target, out);
            std::fs::remove_dir_all(&dest).map_err(|e| format!("{dest_s}: {e}"))?;
            result.map(|()| true)
        }
        1 if r.stderr.contains("internal error") => Err(format!("import: {}", r.stderr)),
        1 if dest.exists() => Err(format!("a failed import wrote {dest_s}")),
        1 => Ok(false),
        c => Err(format!("import exited {c}: {}", r.stderr)),
    }
}

/// The example's spec, reading its weights from `model.safetensors`.
const SAFETENSORS_SPEC: &str = "model-st.yaml";

/// The integer arrays of an `.npz` (its metadata strings left out), to write again
/// as `.safetensors`.
fn arrays_of(npz: &Path) -> Vec<(String, Array)> {
    let tensors = zlmc::frontend::npz::read_npz(npz).unwrap();
    let mut out = Vec::new();
    for (name, t) in tensors {
        let TensorData::Int(v) = t.data else {
            continue;
        };
        out.push(if t.dtype.contains('8') {
            (
                name,
                Array::I8(t.shape, v.iter().map(|&x| x as i8).collect()),
            )
        } else {
            (
                name,
                Array::I16(t.shape, v.iter().map(|&x| x as i16).collect()),
            )
        });
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

/// Load, optimize, emit for every target, `build` to `target` into `out` and run one
/// prompt on `path`.
fn exercise(path: &Path, target: &dyn Target, out: &Path) -> Result<(), String> {
    let check = |what: &str, text: String| {
        if text.contains("internal error") {
            Err(format!("{what}: {text}"))
        } else {
            Ok(())
        }
    };
    let spec = path.to_str().unwrap();
    let mut args = vec!["build", spec, "--target", target.name()];
    if let Some(b) = target.boards().first() {
        args.extend(["--board", b.name]);
    }
    args.extend(["-o", out.to_str().unwrap()]);
    let r = zlmc(&args, "");
    match r.code {
        0 => std::fs::remove_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?,
        1 => {
            check("build", r.stderr)?;
            if out.exists() {
                return Err(format!("a failed build wrote {}", out.display()));
            }
        }
        c => return Err(format!("build exited {c}: {}", r.stderr)),
    }
    let mut model = match zlmc::driver::load(path) {
        Ok(m) => m,
        Err(d) => return check("load", d.to_string()),
    };
    if let Err(d) = zlmc::driver::optimize(&mut model, &[], |_, _| {}) {
        return check("optimize", d.to_string());
    }
    for t in TARGETS {
        let board = t.boards().first().map(|b| b.name);
        if let Err(d) = zlmc::driver::emit(
            *t,
            &model,
            path,
            Options {
                board,
                ..Options::default()
            },
        ) {
            check(t.name(), d.to_string())?;
        }
    }
    let r = zlmc(&["run", spec, "--prompt", "lights on"], "");
    if ![0, 1].contains(&r.code) {
        return Err(format!("run exited {}: {}", r.code, r.stderr));
    }
    check("run", r.stderr)
}

/// The most memory the whole test process may reach (the bound per input).
const MEMORY_LIMIT_KB: u64 = 256 * 1024;

/// The process's peak resident memory so far (Linux's `VmHWM`), if the system says.
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn mutated_inputs_fail_cleanly() {
    let execs: u64 = std::env::var("ZLMC_FUZZ_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed = fuzz_seed();
    let scratch_dir = scratch(&format!("fuzz-smoke-{seed}"));
    let dir: PathBuf = scratch_dir.path().to_path_buf();
    let ex = repo().join("examples/commands");
    let seeds = seeds(&dir);
    assert!(seeds.len() >= 5, "seed inputs missing");
    // Unmutated, every seed loads: the mutations start from valid inputs.
    for (name, data) in &seeds {
        std::fs::copy(ex.join("model.npz"), dir.join("model.npz")).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
        let spec = match name.as_str() {
            "model.zir" => "model.zir",
            "model.safetensors" => SAFETENSORS_SPEC,
            n if n.starts_with("bad_") => continue, // meant to fail
            n if n.ends_with(".onnx") => {
                let out = dir.join("seed-out");
                match exercise_onnx(&dir.join(n), TARGETS[0], &out) {
                    Ok(true) if !out.exists() => continue,
                    r => panic!("seed {name} does not import: {r:?}"),
                }
            }
            _ => "model.yaml",
        };
        if let Err(d) = zlmc::driver::load(&dir.join(spec)) {
            panic!("seed {name}: {d}");
        }
    }
    let mut rng = Rng::new(seed);
    let mut most = 0;
    for i in 0..execs {
        let (name, data) = &seeds[(i as usize) % seeds.len()];
        let bytes = mutate(&mut rng, data);
        // A mutated spec uses the real weights; mutated weights use the real spec.
        std::fs::copy(ex.join("model.yaml"), dir.join("model.yaml")).unwrap();
        std::fs::copy(ex.join("model.npz"), dir.join("model.npz")).unwrap();
        std::fs::write(dir.join(name), &bytes).unwrap();
        let path = dir.join(match name.as_str() {
            "model.zir" => "model.zir",
            "model.safetensors" => SAFETENSORS_SPEC,
            _ => "model.yaml",
        });
        let target = TARGETS[(i as usize / seeds.len()) % TARGETS.len()];
        let out = dir.join("out");
        let (r, used) = measure(|| {
            catch_unwind(AssertUnwindSafe(|| {
                if name.ends_with(".onnx") {
                    exercise_onnx(&dir.join(name), target, &out).map(|_| ())
                } else {
                    exercise(&path, target, &out)
                }
            }))
        });
        most = most.max(used.bytes);
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
            used.bytes <= EXEC_BYTES,
            "exec {i} allocated {} bytes: {}",
            used.bytes,
            keep().display()
        );
        if let Some(kb) = peak_memory_kb() {
            assert!(
                kb <= MEMORY_LIMIT_KB,
                "exec {i} took the peak memory to {kb} KB: {}",
                keep().display()
            );
        }
    }
    let peak = peak_memory_kb().map_or("unknown".into(), |kb| format!("{kb} KB"));
    eprintln!(
        "fuzz smoke: {execs} executions, seed {seed}, at most {most} bytes allocated by one, peak memory {peak}"
    );
}

/// `ZLMC_FUZZ_SEED`, or 12.
fn fuzz_seed() -> u64 {
    std::env::var("ZLMC_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

/// Long and odd prompts: the lengths around the CP/M command tail's and the
/// Spectrum line's 127 bytes, `!` first, tabs, non-ASCII, empty; each drawn
/// from `rng` (printable ASCII, or a mix of tabs, `!`, DEL, CR and non-ASCII).
fn odd_prompts(rng: &mut Rng) -> Vec<String> {
    let mut text = |len: usize, printable: bool| -> String {
        (0..len)
            .map(|_| {
                if printable {
                    char::from(rng.range(32, 126) as u8)
                } else {
                    rng.pick(&['a', ' ', '\t', '!', 'é', '→', '\u{7f}', '\r', 'Z', '9'])
                }
            })
            .collect()
    };
    let mut prompts = vec![String::new(), "!".into(), "lights on".into()];
    for len in [1, 126, 127, 128, 200] {
        prompts.push(text(len, true));
        prompts.push(format!("!{}", text(len.saturating_sub(1), true)));
        prompts.push(text(len, false));
    }
    prompts.push(format!("lights\ton {}", text(20, true)));
    prompts.push(format!("héllo wörld {}", text(115, true)));
    prompts
}

/// `sim` of `model` with `args` (prompt or batch) and `stdin`: a clean answer or refusal.
fn sim_cleanly(
    model: &Path,
    target: &dyn Target,
    args: &[&str],
    stdin: &str,
) -> Result<(), String> {
    let mut all = vec!["sim", model.to_str().unwrap(), "--target", target.name()];
    if let Some(b) = target.boards().first() {
        all.extend(["--board", b.name]);
    }
    all.extend(args);
    let (r, used) = measure(|| catch_unwind(AssertUnwindSafe(|| zlmc(&all, stdin))));
    let Ok(r) = r else {
        return Err(format!("{} panicked", all.join(" ")));
    };
    if ![0, 1].contains(&r.code) || r.stderr.contains("internal error") {
        return Err(format!("{}: exit {}: {}", all.join(" "), r.code, r.stderr));
    }
    if used.bytes > EXEC_BYTES {
        return Err(format!("{} allocated {} bytes", all.join(" "), used.bytes));
    }
    Ok(())
}

#[test]
fn odd_prompts_and_long_names_are_answered_or_refused_by_every_simulator() {
    let seed = fuzz_seed();
    let mut rng = Rng::new(seed);
    let prompts = odd_prompts(&mut rng);
    let tmp = scratch(&format!("fuzz-sim-{seed}"));
    let zir =
        std::fs::read_to_string(repo().join("tests/filetests/target-avr/commands.zir")).unwrap();
    let zir = zir.split("\n; expect:").next().unwrap();
    // The example's model under its own name, and under long ones (100 to 250 bytes).
    let mut models = vec![repo().join("examples/commands/model.yaml")];
    for len in [100, rng.range(180, 230) as usize, 250] {
        let name: String = (0..len)
            .map(|_| char::from(rng.range(97, 122) as u8))
            .collect();
        let path = tmp.path().join(format!("long{len}.zir"));
        std::fs::write(
            &path,
            zir.replace("model \"commands\"", &format!("model \"{name}\"")),
        )
        .unwrap();
        models.push(path);
    }
    let batch: String = prompts.iter().map(|p| format!("{p}\n")).collect();
    for t in TARGETS.iter().filter(|t| t.simulator().is_some()) {
        // Each firmware of the avr target is built with avr-gcc: one batch a model.
        let each_prompt = t.name() != "avr";
        for (i, model) in models.iter().enumerate() {
            let mut runs = vec![(vec!["--batch"], batch.as_str())];
            if each_prompt && i == 0 {
                runs.extend(prompts.iter().map(|p| (vec!["--prompt", p.as_str()], "")));
            } else if each_prompt {
                runs.push((vec!["--prompt", rng.pick_ref(&prompts).as_str()], ""));
            }
            for (args, stdin) in runs {
                if let Err(m) = sim_cleanly(model, *t, &args, stdin) {
                    panic!("seed {seed}: {m}");
                }
            }
        }
    }
    eprintln!(
        "fuzz smoke (sim): {} prompts, {} models, seed {seed}",
        prompts.len(),
        models.len()
    );
}
