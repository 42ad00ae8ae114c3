//! Issue 20's acceptance on digits: `zlmc compress … --finetune` brings a
//! compressed int8 import of examples/digits back near its float model on
//! the 450 test rows it never saw (fixture: tests/fixtures/train).

use std::path::{Path, PathBuf};

use zlmc_test_support::{percent_after, repo, scratch, zlmc_import_onnx, zlmc_ok};

fn data() -> PathBuf {
    repo().join("tests/fixtures/train/digits_train.npz")
}

/// Test accuracy (percent) of a model on the fixture.
fn accuracy(model: &Path) -> f64 {
    let r = zlmc_ok(
        &[
            "eval",
            model.to_str().unwrap(),
            "--data",
            data().to_str().unwrap(),
        ],
        "",
    );
    percent_after(&r.stdout, "accuracy:")
}

/// `compress MODEL ARGS --finetune` into `out`; the result's test accuracy.
fn finetuned(model: &Path, out: &Path, args: &[&str]) -> f64 {
    compressed(model, out, &[args, &["--finetune", "--quiet"]].concat())
}

/// `compress MODEL ARGS` into `out` with the fixture as data; the result's
/// test accuracy.
fn compressed(model: &Path, out: &Path, args: &[&str]) -> f64 {
    let data = data();
    let mut a = vec![
        "compress",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    a.extend(args);
    zlmc_ok(&a, "");
    accuracy(&out.join("model.yaml"))
}

/// Imports `onnx` (int8, calibrated on the fixture's 300 rows) into
/// `dir/name`; returns the spec and its float reference's test accuracy.
fn import(onnx: &Path, dir: &Path, name: &str) -> (PathBuf, f64) {
    let r = zlmc_import_onnx(onnx, Some(&data()), &dir.join(name), &["--weights", "int8"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let float = accuracy(&dir.join(name).join("float.yaml"));
    (dir.join(name).join("model.yaml"), float)
}

/// examples/digits's model, 64 → 32 → 16 → 10 (float 97.56 %).
fn small() -> PathBuf {
    repo().join("examples/digits/digits.onnx")
}

/// The fixture's digits model, 64 → 128 → 64 → 10 (float 97.11 %).
fn wide() -> PathBuf {
    repo().join("tests/fixtures/train/digits_wide.onnx")
}

/// The fast one, for CI: half the hidden neurons pruned (12 points lost
/// without fine-tuning), fine-tuned with the defaults, within a point of float.
#[test]
fn pruned_and_finetuned_is_within_a_point_of_float() {
    let dir = scratch("train-digits");
    let (model, float) = import(&wide(), dir.path(), "wide");
    let got = finetuned(&model, &dir.path().join("p"), &["--prune-neurons", "0.5"]);
    assert!(
        got >= float - 1.0,
        "prune 0.5 + finetune {got} %, float {float} %"
    );
}

/// examples/digits (64 → 32 → 16 → 10): 70 % of its weights zeroed. The
/// zeroed weights stay zero through quantizing and fine-tuning, the choice
/// of weights keeps most of the accuracy before any training (a border
/// pixel's large weight goes before a busy pixel's small one), and
/// fine-tuning brings it within a point of float.
#[test]
fn sparsified_small_model_stays_sparse_and_finetunes_within_a_point() {
    let dir = scratch("train-digits-sparse");
    let (model, float) = import(&small(), dir.path(), "small");
    let out = dir.path().join("oneshot");
    let oneshot = compressed(&model, &out, &["--sparsity", "0.7"]);
    // Plain magnitude kept 22.89 % here; 64·32 + 32·16 + 16·10 weights.
    assert!(oneshot >= 60.0, "one-shot sparsity 0.7: {oneshot} %");
    let weights = 64 * 32 + 32 * 16 + 16 * 10;
    let biases = 32 + 16 + 10;
    let most = weights - (weights as f64 * 0.7).floor() as usize + biases;
    assert!(nonzero(&out.join("model.yaml")) <= most);
    let tuned = dir.path().join("tuned");
    let got = finetuned(&model, &tuned, &["--sparsity", "0.7"]);
    assert!(nonzero(&tuned.join("model.yaml")) <= most);
    assert!(
        got >= float - 1.0,
        "sparsity 0.7 + finetune {got} %, float {float} %"
    );
}

/// examples/digits-cnn (conv 3×3 → max pool → dense): fine-tuning trains
/// through the convolution and the pool. At 70 % sparsity (59.11 % without
/// training) ten epochs bring most of the accuracy back, the zeroed
/// weights stay zero, and the float reference is the fine-tuned model's.
#[test]
fn a_sparsified_cnn_finetunes_through_its_convolution() {
    let dir = scratch("train-digits-cnn");
    let onnx = repo().join("examples/digits-cnn/digits_cnn.onnx");
    let (model, _) = import(&onnx, dir.path(), "cnn");
    let sparse = ["--sparsity", "0.7"];
    let oneshot = compressed(&model, &dir.path().join("oneshot"), &sparse);
    let tuned = dir.path().join("tuned");
    let got = finetuned(&model, &tuned, &[&sparse[..], &["--epochs", "10"]].concat());
    assert!(
        got >= oneshot + 20.0,
        "one-shot {oneshot} %, fine-tuned {got} %"
    );
    assert!(nonzero(&tuned.join("model.yaml")) <= nonzero(&dir.path().join("oneshot/model.yaml")));
    // The float reference written beside it is the fine-tuned model's float
    // form, not the compressed model it started from (66 % agreement).
    let r = zlmc_ok(
        &[
            "eval",
            tuned.join("model.yaml").to_str().unwrap(),
            "--data",
            data().to_str().unwrap(),
        ],
        "",
    );
    let agreement = percent_after(&r.stdout, "agreement");
    assert!(agreement >= 95.0, "float reference agrees on {agreement} %");
}

/// `zlmc train` on a CNN spec (conv 3×3 → max pool → dense): it learns the
/// digits from scratch and writes the integer model and its float form.
#[test]
fn train_learns_a_cnn_spec_from_scratch() {
    let dir = scratch("train-cnn-spec");
    let spec = dir.path().join("cnn.yaml");
    std::fs::write(
        &spec,
        "zlmc: 1\nname: cnn\nweights: weights.npz\ninput:\n  - raw: {size: 64}\n\
         numerics:\n  weights: int8\n  accumulator: 32\nlayers:\n\
         \x20 - {name: conv1, conv2d: {input: [1, 8, 8], filters: 4, kernel: [3, 3], padding: [1, 1, 1, 1]}, activation: relu}\n\
         \x20 - {name: pool2, maxpool: {input: [4, 8, 8], kernel: [2, 2], stride: [2, 2]}}\n\
         \x20 - {name: fc3, units: 10}\n\
         output:\n  classify: [\"0\", \"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\"]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let data = data();
    zlmc_ok(
        &[
            "train",
            spec.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--epochs",
            "30",
            "--quiet",
        ],
        "",
    );
    let got = accuracy(&out.join("model.yaml"));
    assert!(got >= 90.0, "a CNN trained from scratch: {got} %");
    let float = accuracy(&out.join("float.yaml"));
    assert!((got - float).abs() <= 2.0, "int {got} %, float {float} %");
}

/// The non-zero parameters `zlmc eval` counts in a model.
fn nonzero(model: &Path) -> usize {
    let r = zlmc_ok(
        &[
            "eval",
            model.to_str().unwrap(),
            "--data",
            data().to_str().unwrap(),
        ],
        "",
    );
    let at = r.stdout.find("parameters:").expect("a parameter count");
    let line = r.stdout[at..].lines().next().unwrap();
    let open = line.find('(').unwrap();
    line[open + 1..].split(' ').next().unwrap().parse().unwrap()
}

/// The whole table (docs/training.md): every figure for the fixture's model
/// and for examples/digits (64 → 32 → 16 → 10), the bounds
/// asserted on both (but for examples/digits's pruned neurons).
#[test]
#[ignore = "a minute in a debug build: run with --release -- --ignored --nocapture"]
fn digits_compress_finetune_table() {
    let dir = scratch("train-digits-table");
    for (onnx, name) in [(wide(), "wide"), (small(), "small")] {
        let (model, float) = import(&onnx, dir.path(), name);
        println!("{name}: float {float:.2} %");
        let mut rows = Vec::new();
        for (what, args) in [
            ("prune-neurons 0.5", &["--prune-neurons", "0.5"][..]),
            ("sparsity 0.7", &["--sparsity", "0.7"][..]),
            ("weights ternary", &["--weights", "ternary"][..]),
            ("weights binary", &["--weights", "binary"][..]),
        ] {
            let out = dir
                .path()
                .join(format!("{name}-{}", what.replace(' ', "_")));
            let got = finetuned(&model, &out, args);
            println!(
                "{name}: {what} + finetune: {got:.2} % ({:+.2} points)",
                got - float
            );
            rows.push((what, got));
        }
        let get = |n: &str| rows.iter().find(|r| r.0 == n).unwrap().1;
        // Half of examples/digits's 32 and 16 hidden neurons pruned lands at
        // 96.22 – 97.33 % over seeds 1 – 4 (−1.34 to −0.23): printed above,
        // not asserted (docs/training.md).
        let bounded: &[&str] = if name == "wide" {
            &["prune-neurons 0.5", "sparsity 0.7", "weights ternary"]
        } else {
            &["sparsity 0.7", "weights ternary"]
        };
        for &n in bounded {
            assert!(
                get(n) >= float - 1.0,
                "{name} {n}: {} %, float {float} %",
                get(n)
            );
        }
        assert!(get("weights binary") >= float - 3.0);
    }
}

/// A spec's architecture (64 → 32 → 10) for `zlmc train`.
const SPEC: &str = "zlmc: 1\nname: digits_trained\nweights: weights.npz\n\
input:\n  - raw: {size: 64}\nnumerics:\n  weights: KIND\n  accumulator: 32\n\
layers:\n  - {name: fc1, units: 32, activation: relu}\n  - {name: fc2, units: 10}\n\
output:\n  classify: [\"0\", \"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\"]\n";

/// `zlmc train` learns digits from scratch, writes the integer model and its
/// float reference, and the same seed gives the same bytes (another seed
/// other weights); the plot is an SVG.
#[test]
fn train_from_scratch_learns_and_replays_byte_for_byte() {
    let dir = scratch("train-scratch");
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, SPEC.replace("KIND", "ternary")).unwrap();
    let data = data();
    let run = |out: &str, seed: &str, threads: &str| {
        let out = dir.path().join(out);
        let plot = dir.path().join(format!("{seed}-{threads}.svg"));
        zlmc_ok(
            &[
                "train",
                spec.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--epochs",
                "15",
                "--seed",
                seed,
                "--threads",
                threads,
                "--plot",
                plot.to_str().unwrap(),
            ],
            "",
        );
        out
    };
    let a = run("a", "3", "1");
    let b = run("b", "3", "2");
    let c = run("c", "4", "2");
    for f in ["model.yaml", "weights.npz", "float.yaml", "float.npz"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_ne!(
        std::fs::read(a.join("weights.npz")).unwrap(),
        std::fs::read(c.join("weights.npz")).unwrap()
    );
    let svg = std::fs::read_to_string(dir.path().join("3-1.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("held out"));
    let got = accuracy(&a.join("model.yaml"));
    assert!(got > 90.0, "trained from scratch: {got} %");
}

/// Bad input: a clear error, non-zero exit, nothing written.
#[test]
fn bad_training_input_is_an_error_and_writes_nothing() {
    let dir = scratch("train-bad");
    let spec = dir.path().join("spec.yaml");
    // Nine classes: the data's label 9 is not one of them.
    let nine = SPEC
        .replace("KIND", "int8")
        .replace("units: 10", "units: 9")
        .replace(", \"9\"]", "]");
    std::fs::write(&spec, nine).unwrap();
    let out = dir.path().join("out");
    let data = data();
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = ["train", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        zlmc_test_support::zlmc(&a, "")
    };
    let mut a = args(&["--quiet", "--data"]);
    a.push(data.to_str().unwrap().to_string());
    let r = run(a);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("label 9 is not one of the model's 9 classes"),
        "{}",
        r.stderr
    );
    let mut a = args(&["--data"]);
    a.push(dir.path().join("missing.npz").to_str().unwrap().to_string());
    assert_eq!(run(a).code, 1);
    assert!(!out.exists(), "nothing written");
    let r = zlmc_test_support::zlmc(
        &[
            "compress",
            spec.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--finetune",
        ],
        "",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("--finetune trains on data"),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "nothing written");
}
