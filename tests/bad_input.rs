//! Bad input: each gives a non-zero exit, a message naming the file (and line
//! and column where there is one), and no output folder left behind.

use std::path::{Path, PathBuf};

use zlmc_test_support::weights::{write_npz, write_safetensors, Array};
use zlmc_test_support::{scratch, zlmc, zlmc_ok, zlmc_try_build, TempDir};

/// A good 2-layer spec; cases edit its text.
const SPEC: &str = "\
zlmc: 1
name: tiny
weights: model.npz
input:
  - query_trigram: {buckets: 8}
numerics:
  weights: int2
  accumulator: 16
layers:
  - {name: fc1, units: 3, shift: 2, activation: relu}
  - {name: fc2, units: 2, shift: 2, activation: none}
output:
  classify: [yes, no]
";

fn good_arrays() -> Vec<(&'static str, Array)> {
    vec![
        (
            "fc1_weight",
            Array::I8(
                vec![3, 8],
                vec![
                    1, 0, -1, -2, 0, 0, 1, 0, 0, 1, 0, 0, -1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
            ),
        ),
        ("fc1_bias", Array::I16(vec![3], vec![5, -7, 100])),
        (
            "fc2_weight",
            Array::I8(vec![2, 3], vec![1, -1, 0, -2, 1, 1]),
        ),
        ("fc2_bias", Array::I16(vec![2], vec![-3, 4])),
    ]
}

struct Case {
    /// Holds `dir` until the case is done.
    _tmp: TempDir,
    dir: PathBuf,
    spec: PathBuf,
}

fn case(name: &str, spec: &str, arrays: Vec<(&'static str, Array)>) -> Case {
    let tmp = scratch(&format!("bad-{name}"));
    let dir = tmp.path().to_path_buf();
    let spec_path = dir.join("model.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    if !arrays.is_empty() {
        write_npz(&dir.join("model.npz"), &arrays);
    }
    Case {
        _tmp: tmp,
        dir,
        spec: spec_path,
    }
}

/// Build the case; expect failure naming `file` at `pos` and mentioning `needle`.
fn fails(c: &Case, file: &Path, pos: Option<(usize, usize)>, needle: &str) {
    let out_dir = c.dir.join("out");
    let (spec, out) = (c.spec.to_str().unwrap(), out_dir.to_str().unwrap());
    let out = zlmc(&["build", spec, "--target", "c", "-o", out], "");
    assert_ne!(
        out.code, 0,
        "expected failure, got success:\n{}",
        out.stdout
    );
    let prefix = match pos {
        Some((l, col)) => format!("{}:{l}:{col}: error: ", file.display()),
        None => format!("{}: error: ", file.display()),
    };
    assert!(
        out.stderr.starts_with(&prefix),
        "want prefix {prefix:?}, got:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(needle),
        "want {needle:?} in:\n{}",
        out.stderr
    );
    assert!(!out_dir.exists(), "no output folder may be left behind");
    let leftovers: Vec<_> = std::fs::read_dir(&c.dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("zlmc-tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary folders left behind: {leftovers:?}"
    );
}

/// `SPEC` with `edit.0` replaced by `edit.1`, with the good weights: refused at `pos`.
fn spec_fails(name: &str, edit: (&str, &str), pos: (usize, usize), needle: &str) {
    let c = case(name, &SPEC.replace(edit.0, edit.1), good_arrays());
    fails(&c, &c.spec, Some(pos), needle);
}

/// The good weights with `fc2_weight` replaced.
fn with_fc2(shape: [usize; 2], values: &[i8]) -> Vec<(&'static str, Array)> {
    let mut a = good_arrays();
    a[2] = ("fc2_weight", Array::I8(shape.to_vec(), values.to_vec()));
    a
}

/// The good weights with `fc1_weight` as float32 values, all `value`.
fn with_float_fc1(value: f32) -> Vec<(&'static str, Array)> {
    let mut a = good_arrays();
    a[0] = ("fc1_weight", Array::F32(vec![3, 8], vec![value; 24]));
    a
}

/// `SPEC` with `arrays` as its weights: refused at `pos` of the spec.
fn weights_fail(name: &str, arrays: Vec<(&'static str, Array)>, pos: (usize, usize), needle: &str) {
    let c = case(name, SPEC, arrays);
    fails(&c, &c.spec, Some(pos), needle);
}

#[test]
fn the_good_spec_builds() {
    let c = case("good", SPEC, good_arrays());
    let out = zlmc(
        &[
            "build",
            c.spec.to_str().unwrap(),
            "-o",
            c.dir.join("out").to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(c.dir.join("out/tiny.c").is_file() && c.dir.join("out/tiny.h").is_file());
}

#[test]
fn yaml_syntax_error() {
    spec_fails(
        "syntax",
        ("classify: [yes, no]", "classify: [yes, no"),
        (14, 1),
        "did not find expected",
    );
}

#[test]
fn unknown_key() {
    spec_fails(
        "unknown-key",
        ("units: 3,", "unitz: 3,"),
        (10, 17),
        "unknown field `unitz`",
    );
}

#[test]
fn wrong_type() {
    spec_fails(
        "wrong-type",
        ("units: 2,", "units: two,"),
        (11, 24),
        "invalid type",
    );
}

#[test]
fn missing_weights_file() {
    let c = case("no-weights", SPEC, vec![]);
    fails(&c, &c.spec, Some((3, 1)), "weights file");
}

#[test]
fn missing_tensor() {
    let mut a = good_arrays();
    a.retain(|(n, _)| *n != "fc2_bias");
    let want = "tensor `fc2_bias` or `fc2.bias` not found";
    weights_fail("missing-tensor", a, (11, 3), want);
}

#[test]
fn wrong_fc2_weights() {
    // The wrong shape, then a value int2 does not hold.
    let w = with_fc2([3, 2], &[1, -1, 0, -2, 1, 1]);
    weights_fail(
        "shape",
        w,
        (11, 3),
        "has shape [3, 2], but layer fc2 needs [2, 3]",
    );
    let w = with_fc2([2, 3], &[1, -1, 0, -2, 2, 1]);
    weights_fail(
        "range",
        w,
        (11, 3),
        "value 2 at [1, 1] is not an int2 weight",
    );
}

#[test]
fn float_weights_without_quantization() {
    weights_fail(
        "float",
        with_float_fc1(0.25),
        (10, 3),
        "holds float32 values, but no quantization was asked for",
    );
}

#[test]
fn float_weights_with_quantization_build() {
    let spec = SPEC.replace(
        "  accumulator: 16\n",
        "  accumulator: 16\n  quantize: {weight_scale: 2.0}\n",
    );
    let c = case("float-ok", &spec, with_float_fc1(0.4));
    let out = zlmc(&["build", c.spec.to_str().unwrap(), "--emit", "zir"], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    // 0.4 * 2 rounds to 1 everywhere.
    assert!(out.stdout.contains("matmul"), "{}", out.stdout);
}

#[test]
fn empty_charset() {
    let spec = SPEC.replace(
        "  classify: [yes, no]\n",
        "  generate:\n    charset: \"\"\n    eos: last\n",
    );
    let c = case("charset", &spec, good_arrays());
    fails(&c, &c.spec, Some((14, 5)), "empty charset");
}

#[test]
fn zir_syntax_error() {
    let tmp = scratch("bad-zir");
    let dir = tmp.path().to_path_buf();
    let zir = dir.join("model.zir");
    std::fs::write(&zir, "zir 1\nmodel \"m\"\ndecode classify(labels: [\"a\"])\n%0 = input : i16[2]\n%1 = argmax %0 : index extra\n").unwrap();
    let c = Case {
        _tmp: tmp,
        dir,
        spec: zir.clone(),
    };
    fails(&c, &zir, Some((5, 24)), "");
}

#[test]
fn unknown_weight_kind() {
    spec_fails(
        "kind",
        ("weights: int2", "weights: int3"),
        (7, 3),
        "unknown weight kind `int3`",
    );
}

#[test]
fn labels_do_not_match_the_last_layer() {
    spec_fails(
        "labels",
        ("[yes, no]", "[yes, no, maybe]"),
        (11, 17),
        "the last layer has 2 units but the output names 3 classes",
    );
}

#[test]
fn shift_too_large() {
    spec_fails(
        "shift",
        ("shift: 2, activation: none", "shift: 16, activation: none"),
        (11, 27),
        "shift 16 does not fit a 16-bit accumulator",
    );
}

#[test]
fn corrupt_weights_file() {
    let c = case("corrupt", SPEC, vec![]);
    std::fs::write(c.dir.join("model.npz"), b"this is not a zip").unwrap();
    fails(
        &c,
        &c.dir.join("model.npz"),
        None,
        "not a NumPy .npz archive",
    );
}

#[test]
fn unsupported_spec_version() {
    spec_fails(
        "version",
        ("zlmc: 1", "zlmc: 7"),
        (1, 1),
        "unsupported spec version 7",
    );
}

#[test]
fn safetensors_weights_load() {
    let tmp = scratch("safetensors");
    let dir = tmp.path();
    std::fs::write(
        dir.join("model.yaml"),
        SPEC.replace("model.npz", "model.safetensors"),
    )
    .unwrap();
    write_safetensors(&dir.join("model.safetensors"), &good_arrays());
    let npz = case("safetensors-npz", SPEC, good_arrays());
    let a = zlmc_ok(
        &[
            "build",
            dir.join("model.yaml").to_str().unwrap(),
            "--emit",
            "zir",
        ],
        "",
    );
    let b = zlmc(&["build", npz.spec.to_str().unwrap(), "--emit", "zir"], "");
    let strip = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(
        strip(&a.stdout),
        strip(&b.stdout),
        "same model from .safetensors and .npz"
    );
}

/// The avr file test's model, renamed to `name`.
fn commands_zir_named(dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(
        zlmc_test_support::repo().join("tests/filetests/target-avr/commands.zir"),
    )
    .unwrap();
    let model = text.split("\n; expect:").next().unwrap();
    let path = dir.join("long.zir");
    std::fs::write(
        &path,
        model.replace("model \"commands\"", &format!("model \"{name}\"")),
    )
    .unwrap();
    path
}

#[test]
fn a_long_model_name_is_simulated_or_refused_clearly() {
    // 250 bytes: a file name of its own, but not with `_model.S` after it.
    let tmp = scratch("long-name");
    let name = "x".repeat(250);
    let zir = commands_zir_named(tmp.path(), &name);
    let zir = zir.to_str().unwrap();
    let r = zlmc(
        &[
            "sim",
            zir,
            "--target",
            "avr",
            "--board",
            "uno",
            "--prompt",
            "lights on",
        ],
        "",
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "lights_on\n"),
        "{}",
        r.stderr
    );
    let out = tmp.path().join("out");
    let r = zlmc_try_build(Path::new(zir), "avr", &["--board", "uno"], &out);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("out/{name}/{name}_model.S: error: cannot write: ")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("help: the file is named after the model: give the model a shorter name"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}
