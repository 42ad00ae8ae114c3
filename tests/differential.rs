//! Differential test: random models (dense, and convolutional), the
//! interpreter against the host-compiled C backend, with every pass on and
//! with each pass switched off in turn.

use std::fmt::Write as _;

use zlmc_ir::interp;
use zlmc_test_support::conv_models::random_conv_model;
use zlmc_test_support::models::{random_inputs, random_model};
use zlmc_test_support::tools::{c_i16_array, gcc, run_exe};
use zlmc_test_support::{build, scratch, Rng};

const MODELS: usize = 200;
const INPUTS_PER_MODEL: usize = 4;
const BATCHES: usize = 8;

/// Pass configurations: every pass on, then each optional pass off, then all off.
const CONFIGS: &[Config] = &[
    ("all", &[]),
    ("nodead", &["dead-neurons"]),
    ("nofuse", &["fuse-epilogue"]),
    ("nosparse", &["sparse-weights"]),
    ("none", &["dead-neurons", "fuse-epilogue", "sparse-weights"]),
];

fn expected_line(name: &str, k: usize, r: &interp::StepResult) -> String {
    let mut s = format!("{name} {k}:");
    for l in &r.logits {
        let _ = write!(s, " {l}");
    }
    let _ = writeln!(s, " | {}", r.class);
    s
}

#[test]
fn random_models_agree_with_the_interpreter_in_c() {
    agree_in_c("differential", 0x5eed_2026, MODELS, CONFIGS, random_model);
}

#[test]
fn random_conv_models_agree_with_the_interpreter_in_c() {
    // Every pass on and every pass off: the passes that touch conv graphs
    // (fusing the epilogue) are then each on and off.
    let configs = [CONFIGS[0], CONFIGS[CONFIGS.len() - 1]];
    agree_in_c(
        "differential-conv",
        0xc0_2026,
        120,
        &configs,
        random_conv_model,
    );
}

/// A pass configuration: its name and the passes it disables.
type Config = (&'static str, &'static [&'static str]);

/// `count` models from `make`, each under every configuration of `configs`,
/// agree in C with the interpreter.
fn agree_in_c(
    tag: &str,
    seed: u64,
    count: usize,
    configs: &[Config],
    make: fn(&mut Rng, &str) -> zlmc_ir::Model,
) {
    let tmp = scratch(tag);
    let root = tmp.path().to_path_buf();
    let mut rng = Rng::new(seed);
    let models: Vec<_> = (0..count)
        .map(|i| {
            let m = make(&mut rng, &format!("m{i}"));
            let inputs = random_inputs(&mut rng, m.input_len(), INPUTS_PER_MODEL);
            (m, inputs)
        })
        .collect();
    let mut checked_outputs = 0usize;
    let batches: Vec<_> = models.chunks(count.div_ceil(BATCHES)).enumerate().collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = batches
            .into_iter()
            .map(|(b, chunk)| {
                let root = root.clone();
                s.spawn(move || run_batch(&root.join(format!("b{b}")), chunk, configs))
            })
            .collect();
        for h in handles {
            checked_outputs += h.join().expect("batch thread");
        }
    });
    let want = count * configs.len() * INPUTS_PER_MODEL;
    assert_eq!(
        checked_outputs, want,
        "every model, config and input was checked"
    );
    eprintln!(
        "{tag}: {count} random models x {} pass configs x {INPUTS_PER_MODEL} inputs agree",
        configs.len()
    );
}

fn run_batch(
    dir: &std::path::Path,
    chunk: &[(zlmc_ir::Model, Vec<Vec<i16>>)],
    configs: &[Config],
) -> usize {
    std::fs::create_dir_all(dir).expect("batch folder");
    let mut sources = Vec::new();
    let mut driver = String::from("#include <stdio.h>\n#include <stdint.h>\n");
    let mut body = String::new();
    let mut expected = String::new();
    for (m, inputs) in chunk {
        let reference: Vec<_> = inputs.iter().map(|x| interp::step(&m.graph, x)).collect();
        for (cfg, disabled) in configs {
            let mut opt = m.clone();
            let disabled: Vec<String> = disabled.iter().map(|s| s.to_string()).collect();
            zlmc::driver::optimize(&mut opt, &disabled, |_, _| {}).expect("passes succeed");
            // The optimized model must agree with the reference in the interpreter too.
            for (x, r) in inputs.iter().zip(&reference) {
                assert_eq!(
                    &interp::step(&opt.graph, x),
                    r,
                    "{} after passes ({cfg})",
                    m.name
                );
            }
            opt.name = format!("{}_{cfg}", m.name);
            let c = build::c(&opt, std::path::Path::new("random"));
            std::fs::write(dir.join(&c.header_name), &c.header).expect("write header");
            std::fs::write(dir.join(&c.source_name), &c.source).expect("write source");
            sources.push(dir.join(&c.source_name));
            let _ = writeln!(driver, "#include \"{}\"", c.header_name);
            let classes = r_len(&reference);
            for (k, x) in inputs.iter().enumerate() {
                let n = &opt.name;
                let _ = writeln!(
                    driver,
                    "static const int16_t {n}_in{k}[] = {};",
                    c_i16_array(x)
                );
                let _ = writeln!(
                    body,
                    "  {{ int16_t l[{classes}]; unsigned i; {n}_step({n}_in{k}, l); printf(\"{n} {k}:\"); \
                     for (i = 0; i < {classes}; i++) printf(\" %d\", l[i]); printf(\" | %u\\n\", (unsigned){n}_predict({n}_in{k})); }}"
                );
                expected.push_str(&expected_line(n, k, &reference[k]));
            }
        }
    }
    let _ = write!(driver, "int main(void) {{\n{body}  return 0;\n}}\n");
    std::fs::write(dir.join("driver.c"), driver).expect("write driver");
    sources.push(dir.join("driver.c"));
    let exe = gcc(dir, "diff", &sources, &["-O1"]);
    let got = run_exe(&exe, b"");
    for (g, e) in got.lines().zip(expected.lines()) {
        assert_eq!(
            g,
            e,
            "C and interpreter disagree (sources in {})",
            dir.display()
        );
    }
    assert_eq!(
        got.lines().count(),
        expected.lines().count(),
        "output line count"
    );
    expected.lines().count()
}

fn r_len(r: &[interp::StepResult]) -> usize {
    r[0].logits.len()
}
