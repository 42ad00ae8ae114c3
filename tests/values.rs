//! The `values` output kind (regression, scores) from the spec to the C
//! API: `zlmc run` prints `scale·(q − zero_point)` for every output, and the
//! generated `NAME_values_float` gives the same numbers (as floats) on the
//! same features. Spec errors about values and activations name the line.

use std::fmt::Write as _;
use std::path::Path;

use zlmc::quant::npz_write::{npz_bytes, Array};
use zlmc_test_support::tools::{gcc, installed, run_exe};
use zlmc_test_support::{scratch, skip, zlmc, zlmc_build, zlmc_ok, Rng};

/// A 4-input, 2-value model with a lookup table and a leaky ReLU, its
/// float input quantized with scale 0.5.
const SPEC: &str = "zlmc: 1
name: reg
weights: w.npz
input:
  - raw: {size: 4, scale: 0.5, range: [-40, 40]}
numerics: {weights: int4, accumulator: 16}
layers:
  - {name: fc1, units: 6, shift: 1, activation: {lut: {lo: -4, table: [-300, -2, -1, 0, 1, 2, 3, 400]}}}
  - {name: fc2, units: 2, shift: 0, activation: {leaky_relu: {mul: 3, shift: 4}}}
output:
  values: {scale: 0.25, zero_point: 1}
";

fn write_model(dir: &Path, spec: &str) {
    let mut rng = Rng::new(11);
    let mut w = |n: usize| -> Vec<i8> { (0..n).map(|_| rng.range(-8, 7) as i8).collect() };
    let (w1, w2) = (w(24), w(12));
    let npz = npz_bytes(&[
        Array::I8("fc1_weight", vec![6, 4], w1),
        Array::I32("fc1_bias", vec![6], vec![-9, 4, 0, 30, -50, 7]),
        Array::I8("fc2_weight", vec![2, 6], w2),
        Array::I32("fc2_bias", vec![2], vec![3, -4]),
    ])
    .unwrap();
    std::fs::write(dir.join("w.npz"), npz).unwrap();
    std::fs::write(dir.join("m.yaml"), spec).unwrap();
}

/// Random feature lines over (and past) the declared range.
fn feature_lines(n: usize) -> Vec<String> {
    let mut rng = Rng::new(5);
    (0..n)
        .map(|_| {
            let v: Vec<String> = (0..4)
                .map(|_| format!("{}", rng.range(-9000, 9000) as f64 / 100.0))
                .collect();
            v.join(" ")
        })
        .collect()
}

#[test]
fn run_prints_values_and_c_gives_the_same() {
    let tmp = scratch("values");
    let dir = tmp.path();
    write_model(dir, SPEC);
    let spec = dir.join("m.yaml");
    let lines = feature_lines(200);
    let run = zlmc_ok(
        &["run", spec.to_str().unwrap(), "--batch"],
        &(lines.join("\n") + "\n"),
    );
    // `--batch` prints each input line, a tab, then the answer.
    let want: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| l.split_once('\t').expect("input, tab, answer").1)
        .collect();
    assert_eq!(want.len(), lines.len(), "{}", run.stdout);
    // Every line is two numbers on the output's grid, and they vary.
    for l in &want {
        let v: Vec<f64> = l.split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!(v.len(), 2, "{l}");
        assert!(v.iter().all(|x| (x / 0.25).fract() == 0.0), "{l}");
    }
    assert!(want.iter().any(|l| l.starts_with('-')), "no negative value");
    assert!(want.windows(2).any(|w| w[0] != w[1]), "constant output");

    if !installed("gcc") {
        return skip(
            "run_prints_values_and_c_gives_the_same",
            "gcc is not installed",
        );
    }
    let out = dir.join("c");
    zlmc_build(&spec, "c", &[], &out);
    let driver = out.join("driver.c");
    std::fs::write(
        &driver,
        "#include <stdio.h>\n#include \"reg.h\"\n\
         int main(void)\n{\n    float f[REG_INPUTS], v[REG_VALUES];\n    \
         while (scanf(\"%f %f %f %f\", &f[0], &f[1], &f[2], &f[3]) == 4) {\n        \
         reg_values_float(f, v);\n        printf(\"%.9g %.9g\\n\", v[0], v[1]);\n    }\n    \
         return 0;\n}\n",
    )
    .unwrap();
    let exe = gcc(&out, "values", &[driver, out.join("reg.c")], &[]);
    let got = run_exe(&exe, (lines.join("\n") + "\n").as_bytes());
    let mut expected = String::new();
    for l in &want {
        let v: Vec<f32> = l.split(' ').map(|x| x.parse().unwrap()).collect();
        writeln!(expected, "{:.9e} {:.9e}", v[0], v[1]).unwrap();
    }
    let mut printed = String::new();
    for l in got.lines() {
        let v: Vec<f32> = l.split(' ').map(|x| x.parse().unwrap()).collect();
        writeln!(printed, "{:.9e} {:.9e}", v[0], v[1]).unwrap();
    }
    assert_eq!(printed, expected);
}

#[test]
fn spec_errors_name_the_line() {
    let tmp = scratch("values-errors");
    let dir = tmp.path();
    for (edit, at, message) in [
        (
            (
                "values: {scale: 0.25, zero_point: 1}",
                "values: {zero_point: 1}",
            ),
            "m.yaml:11:3",
            "an integer model's values need a `scale`",
        ),
        (
            (
                "values: {scale: 0.25, zero_point: 1}",
                "values: {scale: -1}",
            ),
            "m.yaml:11:3",
            "scale -1 must be positive",
        ),
        (
            ("{leaky_relu: {mul: 3, shift: 4}}", "tanh"),
            "m.yaml:9:",
            "`tanh` is a float activation",
        ),
        (
            ("{leaky_relu: {mul: 3, shift: 4}}", "{clamp: [5, 1]}"),
            "m.yaml:9:",
            "clamp bounds 5 > 1",
        ),
        (
            (
                "{leaky_relu: {mul: 3, shift: 4}}",
                "{leaky_relu: {alpha: 0.1}}",
            ),
            "m.yaml:9:",
            "takes `{mul, shift}`",
        ),
        (
            (
                "{leaky_relu: {mul: 3, shift: 4}}",
                "{leaky_relu: {mul: 16, shift: 4}}",
            ),
            "m.yaml:9:",
            "mul < 2^shift",
        ),
        (
            (
                "table: [-300, -2, -1, 0, 1, 2, 3, 400]",
                "table: [40000, 1]",
            ),
            "m.yaml:8:",
            "lut entry 40000 does not fit int16",
        ),
    ] {
        write_model(dir, &SPEC.replace(edit.0, edit.1));
        let spec = dir.join("m.yaml");
        let r = zlmc(&["run", spec.to_str().unwrap()], "1 2 3 4\n");
        assert_eq!(r.code, 1, "{edit:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(at) && r.stderr.contains(message),
            "{edit:?}: {}",
            r.stderr
        );
    }
}
