//! `zlmc::import::onnx::load` against models written by torch.onnx.export, tf2onnx and
//! skl2onnx (tests/fixtures/onnx, made by scripts/fixtures/make_onnx_fixtures.py,
//! and torch_default/make.py): the f32 evaluation matches what onnxruntime (or
//! PyTorch) computed, labels come along, and bad files give clear errors.

use std::path::PathBuf;

use zlmc::frontend::npz::read_npz;
use zlmc::frontend::tensors::{TensorData, TensorMap};
use zlmc::quant::float_model::{FloatActivation, FloatMlp};

/// Largest allowed |zlmc − onnxruntime| on logits and probabilities.
const TOL: f32 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    zlmc_test_support::repo()
        .join("tests/fixtures/onnx")
        .join(name)
}

/// Rows of a 2-D float array of the `.io.npz`.
fn rows(io: &TensorMap, key: &str) -> Option<Vec<Vec<f32>>> {
    let t = io.get(key)?;
    let TensorData::Float(v) = &t.data else {
        panic!("{key} is not float");
    };
    // A row is everything after the batch dimension, flattened.
    let row: usize = t.shape[1..].iter().product();
    Some(
        v.chunks(row)
            .map(|r| r.iter().map(|&x| x as f32).collect())
            .collect(),
    )
}

fn softmax(z: &[f32]) -> Vec<f32> {
    let m = z.iter().cloned().fold(f32::MIN, f32::max);
    let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Load NAME.onnx and check it against NAME.io.npz; returns the model.
fn check(name: &str) -> FloatMlp {
    let model = zlmc::import::onnx::load(&fixture(&format!("{name}.onnx")))
        .unwrap_or_else(|e| panic!("{e}"));
    let io = read_npz(&fixture(&format!("{name}.io.npz"))).unwrap();
    let x = rows(&io, "x").unwrap();
    let logits = rows(&io, "logits").unwrap();
    let TensorData::Int(labels) = &io["labels"].data else {
        panic!("labels are not integers");
    };
    assert_eq!(model.inputs, x[0].len());
    let (mut d_logits, mut d_probs) = (0.0f32, 0.0f32);
    for (i, x) in x.iter().enumerate() {
        let z = model.eval(x);
        d_logits = d_logits.max(max_diff(&z, &logits[i]));
        if let Some(p) = rows(&io, "probs") {
            d_probs = d_probs.max(max_diff(&softmax(&z), &p[i]));
        }
        if let Some(lp) = rows(&io, "log_probs") {
            let ours: Vec<f32> = softmax(&z).iter().map(|p| p.ln()).collect();
            d_probs = d_probs.max(max_diff(&ours, &lp[i]));
        }
        assert_eq!(model.predict(x) as i64, labels[i], "{name}: row {i}");
    }
    eprintln!("{name}: max |zlmc − onnxruntime| logits {d_logits:e}, probabilities {d_probs:e}");
    assert!(d_logits <= TOL, "{name}: logits differ by {d_logits}");
    assert!(d_probs <= TOL, "{name}: probabilities differ by {d_probs}");
    model
}

#[test]
fn torch_gemm_export_folds_normalization_into_the_first_layer() {
    let m = check("torch_gemm");
    // Sub and Div by constants, three Gemm layers, Flatten and Dropout dropped.
    assert_eq!(m.layers.len(), 3);
    assert_eq!((m.layers[0].inputs(), m.layers[0].units()), (8, 16));
    let acts: Vec<_> = m.layers.iter().map(|l| l.activation).collect();
    use FloatActivation as A;
    assert_eq!(acts, [A::Relu, A::Relu, A::None]);
    assert_eq!(m.labels, None);
    assert_eq!(m.name, "torch_gemm");
}

#[test]
fn torch_dynamo_export_reads_like_the_torchscript_one() {
    let m = check("torch_dynamo");
    assert_eq!(m.layers.len(), 2);
    assert_eq!(m.layers[1].units(), 5);
}

#[test]
fn torch_default_export_with_external_data_and_a_batch_of_one() {
    // PyTorch 2.15's `torch.onnx.export` with its defaults (torch_default/make.py):
    // weights in model.onnx.data, input (1, 1, 8, 8), Div, Reshape to [1, 64].
    let m = check("torch_default/model");
    let shape: Vec<_> = m.layers.iter().map(|l| (l.inputs(), l.units())).collect();
    assert_eq!(shape, [(64, 16), (16, 10)]);
    assert_eq!(m.name, "model");
}

#[test]
fn torch_matmul_add_export_drops_the_log_softmax() {
    let m = check("torch_matmul");
    assert_eq!(m.layers.len(), 2);
    assert_eq!(m.layers[1].units(), 3);
}

#[test]
fn skl2onnx_mlp_classifier_carries_string_labels() {
    let m = check("skl_mlp");
    assert_eq!(m.layers.len(), 3);
    let labels = m.labels.expect("labels");
    assert_eq!(labels, ["setosa", "versicolor", "virginica"]);
}

#[test]
fn skl2onnx_pipeline_folds_the_scaler_and_carries_int_labels() {
    let m = check("skl_pipeline");
    assert_eq!(m.layers.len(), 2);
    assert_eq!(m.labels.expect("labels"), ["3", "5", "7"]);
}

#[test]
fn tf2onnx_keras_dense_reshape_and_softmax() {
    let m = check("keras_dense");
    // Flatten of a 2×3 input (a Reshape), three Dense layers, Softmax dropped.
    assert_eq!(m.inputs, 6);
    assert_eq!(m.layers.len(), 3);
    assert_eq!(m.labels, None);
}

#[test]
fn activations_exporters_spell_in_several_ops_compute_what_the_framework_did() {
    // tests/fixtures/onnx/small/make_activations.py: Keras 3 through tf2onnx, PyTorch
    // 2.15's two exporters.
    use FloatActivation as A;
    for (name, act) in [
        ("act_keras_relu6", A::Clip { min: 0.0, max: 6.0 }),
        // relu6(x + 3)·(1/6): the clip, its offset in the bias, its scale in the next layer.
        ("act_keras_hard_sigmoid", A::Clip { min: 0.0, max: 6.0 }),
        ("act_keras_hard_silu", A::HardSwish),
        // `Mul`/`Neg`/`Erfc`.
        ("act_keras_gelu", A::Gelu { tanh: false }),
        ("act_keras_gelu_tanh", A::Gelu { tanh: true }),
        ("act_torch_gelu_tanh", A::Gelu { tanh: true }),
        ("act_torch_legacy_gelu_tanh", A::Gelu { tanh: true }),
    ] {
        let m = check(&format!("small/{name}"));
        let acts: Vec<_> = m.layers.iter().map(|l| l.activation).collect();
        assert_eq!(acts, [act, A::None], "{name}");
    }
}

#[test]
fn skl2onnx_linear_classifiers_are_classifiers_whatever_their_post_transform() {
    // tests/fixtures/onnx/small/make_sklearn_linear.py: raw scores (a scikit-learn
    // model with no probabilities is still no regressor), and softmax then
    // an L1 Normalizer.
    for name in ["skl_linear_svc", "skl_logreg_multi"] {
        let m = check(&format!("small/{name}"));
        assert_eq!(m.output, zlmc::quant::float_model::FloatOutput::Classes);
        assert_eq!(m.layers.len(), 1);
        let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();
        assert_eq!(m.labels.as_ref(), Some(&digits), "{name}");
    }
}

#[test]
fn skl2onnx_binary_linear_svc_is_one_logit_and_its_positive_score() {
    // Two opposite score rows; `probabilities` picks the positive one.
    let m = zlmc::import::onnx::load(&fixture("small/skl_binary_svc.onnx"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.layers[0].weight[0], vec![0.0; 6]);
    assert_eq!(
        m.labels.as_deref(),
        Some(&["0".to_string(), "1".to_string()][..])
    );
    let io = read_npz(&fixture("small/skl_binary_svc.io.npz")).unwrap();
    let (x, z) = (rows(&io, "x").unwrap(), rows(&io, "logits").unwrap());
    let TensorData::Int(labels) = &io["labels"].data else {
        panic!("labels are not integers");
    };
    for (i, x) in x.iter().enumerate() {
        let ours = m.eval(x);
        assert!((ours[1] - ours[0] - z[i][0]).abs() < TOL, "row {i}");
        assert_eq!(m.predict(x) as i64, labels[i], "row {i}");
    }
}

#[test]
fn gemm_without_trans_b_with_alpha_beta_constants_and_doubles() {
    let m = check("handmade_gemm");
    assert_eq!(m.layers.len(), 2);
    assert_eq!((m.layers[0].inputs(), m.layers[0].units()), (5, 7));
}

#[test]
fn digits_example_float_model_scores_what_train_py_measured() {
    let dir = zlmc_test_support::repo().join("examples/digits");
    let m = zlmc::import::onnx::load(&dir.join("digits.onnx")).unwrap_or_else(|e| panic!("{e}"));
    let shape: Vec<_> = m.layers.iter().map(|l| (l.inputs(), l.units())).collect();
    assert_eq!(shape, [(64, 32), (32, 16), (16, 10)]);
    let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    assert_eq!(m.labels.as_ref(), Some(&digits));
    let data = read_npz(&dir.join("data.npz")).unwrap();
    let x = rows(&data, "x_test").unwrap();
    let TensorData::Int(y) = &data["y_test"].data else {
        panic!("y_test is not integers");
    };
    let correct = x
        .iter()
        .zip(y)
        .filter(|(x, &y)| m.predict(x) as i64 == y)
        .count();
    // examples/digits/README.md: 439 of 450 with scikit-learn and onnxruntime.
    assert_eq!((correct, x.len()), (439, 450));
}

/// The error message for a bad fixture (the file name is the fixture's path).
fn error(name: &str) -> String {
    let path = fixture(name);
    let e = zlmc::import::onnx::load(&path).expect_err("bad fixture loaded");
    let msg = e.to_string();
    let prefix = format!("{}: error: ", path.display());
    assert!(msg.starts_with(&prefix), "{msg}");
    msg[prefix.len()..].to_string()
}

#[test]
fn an_activation_after_an_activation_gets_a_diagonal_layer() {
    // Made when `Tanh` was unsupported: Relu then Tanh after one MatMul.
    let m = zlmc::import::onnx::load(&fixture("bad_unsupported_op.onnx")).unwrap();
    let acts: Vec<_> = m.layers.iter().map(|l| l.activation).collect();
    use FloatActivation as A;
    assert_eq!(acts, [A::Relu, A::Tanh, A::None]);
    let x = [0.5, -1.0, 2.0, 0.25];
    let h: Vec<f32> = m.layers[0].forward(&x);
    let want: Vec<f32> = h.iter().map(|v| v.tanh()).collect();
    assert!(max_diff(&m.layers[1].forward(&h), &want) < 1e-6);
}

#[test]
fn mismatched_layers_name_the_node() {
    assert_eq!(
        error("bad_shape_mismatch.onnx"),
        "node 2 (`/fc2/MatMul`): `MatMul` weights take 6 inputs but the value before has 8 \
         (shape mismatch)"
    );
}

#[test]
fn missing_external_data_names_the_tensor_and_the_file() {
    // The fixture's `weights.bin` is not beside it.
    let e = error("bad_external_data.onnx");
    assert!(
        e.starts_with("initializer `W` keeps its data in `weights.bin`, which cannot be read: "),
        "{e}"
    );
}

#[test]
fn huge_declared_dimensions_are_refused_before_allocating() {
    let e = error("bad_huge_dim.onnx");
    assert!(
        e.starts_with(
            "initializer `W` has dimensions [1099511627776, 1099511627776], over the limit"
        ),
        "{e}"
    );
    let e = error("bad_huge_input.onnx");
    assert!(
        e.starts_with("input `x` has dimensions [1099511627776], over the limit"),
        "{e}"
    );
}

#[test]
fn every_truncation_of_a_model_is_an_error_not_a_panic() {
    let bytes = std::fs::read(fixture("torch_gemm.onnx")).unwrap();
    assert!(zlmc::import::onnx::from_bytes(&bytes, "m").is_ok());
    for n in 0..bytes.len() {
        // A cut between fields is valid protobuf: such prefixes must fail later,
        // on a missing graph, input, layer or (the last field) opset.
        let r = zlmc::import::onnx::from_bytes(&bytes[..n], "m");
        assert!(r.is_err(), "a {n}-byte prefix loaded");
    }
    let e = zlmc::import::onnx::from_bytes(&bytes[..bytes.len() / 2], "m").unwrap_err();
    assert!(e.starts_with("not a valid ONNX model (protobuf: "), "{e}");
}

#[test]
fn a_missing_file_is_an_error() {
    let e = zlmc::import::onnx::load(&fixture("no_such_model.onnx")).unwrap_err();
    assert!(
        e.message.starts_with("cannot read ONNX model: "),
        "{}",
        e.message
    );
}

/// Graphs built here, for cases no exporter writes on purpose.
mod built {
    use zlmc::import::onnx::proto::*;
    use zlmc_test_support::onnx::{ints, model, node, tensor};

    /// Load a graph over `x: [N, 2]` with output `y`.
    fn load(
        nodes: Vec<NodeProto>,
        init: Vec<TensorProto>,
    ) -> Result<zlmc::quant::float_model::FloatMlp, String> {
        load_over(2, nodes, init)
    }

    /// Load a graph over `x: [N, width]` with output `y`.
    fn load_over(
        width: i64,
        nodes: Vec<NodeProto>,
        init: Vec<TensorProto>,
    ) -> Result<zlmc::quant::float_model::FloatMlp, String> {
        let bytes = model(&[None, Some(width)], nodes, init);
        let values = Some(zlmc::import::onnx::OutputKind::Values);
        zlmc::import::onnx::from_bytes_as(&bytes, "m", values)
    }

    #[test]
    fn constant_minus_input_and_division_fold_exactly() {
        // y = W·((c − x) / 4), c = [1, 2], W = [[1, 1]].
        let m = load(
            vec![
                node("Sub", &["c", "x"], "d"),
                node("Div", &["d", "four"], "e"),
                node("MatMul", &["e", "W"], "y"),
            ],
            vec![
                tensor("c", &[2], &[1.0, 2.0]),
                tensor("four", &[], &[4.0]),
                tensor("W", &[2, 1], &[1.0, 1.0]),
            ],
        )
        .unwrap();
        assert_eq!(m.eval(&[3.0, 6.0]), [((1.0 - 3.0) + (2.0 - 6.0)) / 4.0]);
    }

    /// Found by the fuzz smoke test: a mutated input width made an elementwise
    /// step allocate a width × width layer (over 256 MB) before any error.
    #[test]
    fn wide_inputs_are_refused_before_allocating() {
        let relu = || vec![node("Relu", &["x"], "y")];
        let e = load_over(1 << 24, relu(), vec![]).unwrap_err();
        assert!(
            e.contains("16777216 features, over the limit of 131072"),
            "{e}"
        );
        let e = load_over(4096, relu(), vec![]).unwrap_err();
        assert!(
            e.contains("4096×4096 layer, over the limit of 1048576"),
            "{e}"
        );
    }

    /// Long chains of elementwise ops (each kept until a layer reads the
    /// value) are refused, not a deep recursion.
    #[test]
    fn long_elementwise_chains_are_refused() {
        let mut nodes: Vec<NodeProto> = (0..10_000)
            .map(|i| node("Add", &[&format!("v{i}"), "one"], &format!("v{}", i + 1)))
            .collect();
        nodes.insert(0, node("Identity", &["x"], "v0"));
        nodes.push(node("MatMul", &["v10000", "W"], "y"));
        let init = vec![
            tensor("one", &[], &[1.0]),
            tensor("W", &[2, 1], &[1.0, 1.0]),
        ];
        let e = load(nodes, init).unwrap_err();
        assert_eq!(
            e,
            "node 65: an elementwise function of more than 64 ops between layers is not supported"
        );
        // A function of 40 ops times itself: each within the limit, the product not.
        let mut nodes: Vec<NodeProto> = (0..40)
            .map(|i| node("Add", &[&format!("v{i}"), "one"], &format!("v{}", i + 1)))
            .collect();
        nodes.insert(0, node("Identity", &["x"], "v0"));
        nodes.push(node("Mul", &["v40", "v40"], "sq"));
        let init = vec![tensor("one", &[], &[1.0])];
        let e = load(nodes, init).unwrap_err();
        assert!(
            e.starts_with("node 41: an elementwise function of more than 64"),
            "{e}"
        );
    }

    #[test]
    fn nonlinear_or_impossible_steps_are_errors() {
        let w = || tensor("W", &[2, 1], &[1.0, 1.0]);
        // `step` computes `d` from `x` (and constants `init`), a MatMul follows.
        let step_err = |step: NodeProto, mut init: Vec<TensorProto>| {
            init.push(w());
            load(vec![step, node("MatMul", &["d", "W"], "y")], init).unwrap_err()
        };
        let zero = || vec![tensor("z", &[], &[0.0])];
        let e = step_err(node("Div", &["z", "x"], "d"), zero());
        assert_eq!(
            e,
            "node 0: `Div` of a constant by the network's values is not linear"
        );
        let e = step_err(node("Div", &["x", "z"], "d"), zero());
        assert_eq!(e, "node 0: `Div` divides by zero");
        let e = step_err(node("Mul", &["x", "x"], "d"), vec![]);
        assert_eq!(
            e,
            "node 1: the elementwise function `Mul` computes before `MatMul` is not an \
             activation zlmc knows (Relu, LeakyRelu, Clip, Tanh, Sigmoid, HardSigmoid, \
             HardSwish, Gelu, or affine maps of them)"
        );
        let e = load(
            vec![
                node("MatMul", &["x", "W2"], "h"),
                node("Add", &["x", "h"], "d"),
                node("MatMul", &["d", "W"], "y"),
            ],
            vec![w(), tensor("W2", &[2, 2], &[1.0, 0.0, 0.0, 1.0])],
        )
        .unwrap_err();
        assert_eq!(
            e,
            "node 1: `Add` of two computed values is not supported (only an elementwise \
             function of one value, such as GELU's x·Φ(x), or a value and a constant)"
        );
        let shape = vec![ints("s", &[-1, i64::MAX, i64::MAX])];
        let e = step_err(node("Reshape", &["x", "s"], "d"), shape);
        assert!(e.contains("`Reshape` to [-1, 9223372036854775807"), "{e}");
        let e = load(vec![node("MatMul", &["x", "nowhere"], "y")], vec![]).unwrap_err();
        assert_eq!(
            e,
            "node 0: input `nowhere` is not defined by an earlier node"
        );
        let mut fused = node("FusedMatMul", &["x", "W"], "y");
        fused.domain = "com.microsoft".into();
        fused.name = "fc".into();
        let e = load(vec![fused], vec![w()]).unwrap_err();
        assert_eq!(
            e,
            "node 0 (`fc`): unsupported op `com.microsoft.FusedMatMul`"
        );
        let mut norm = node("Binarizer", &["x"], "y");
        norm.domain = "ai.onnx.ml".into();
        let e = load(vec![norm], vec![]).unwrap_err();
        assert_eq!(e, "node 0: unsupported op `ai.onnx.ml.Binarizer`");
        let e = load(vec![node("Identity", &["x"], "y")], vec![]).unwrap_err();
        assert_eq!(
            e,
            "the graph has no layer with weights (MatMul, Gemm or Conv)"
        );
    }
}

/// The real exports of issue 19 (tests/fixtures/onnx/NAME/, listed in
/// MANIFEST.tsv):
/// every one imports, in one command, and its float model computes what the
/// framework itself did (`logits`, `probs`, `values`, `labels` of io.npz)
/// within 1e-4.
#[test]
fn real_exports_compute_what_their_frameworks_did() {
    use zlmc::import::onnx::OutputKind;
    let root = std::env::var_os("ZLMC_ONNX_FIXTURES").map_or_else(|| fixture(""), PathBuf::from);
    let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the real exports come with the `fixtures` branch; \
             ZLMC_ONNX_FIXTURES names another folder holding them)",
            root.join("MANIFEST.tsv").display()
        )
    });
    // Exports that cannot import, each with what its error must say.
    let refused = [(
        // Keras 3's `model.export` leaves the layer's mean and variance as
        // graph inputs with no values.
        "keras_normalization",
        "Export the model as a SavedModel and convert that with the tf2onnx command line",
    )];
    let mut failures = Vec::new();
    for row in manifest.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (name, model, output) = (cols[0], cols[1], cols[5]);
        let path = root.join(model);
        if let Some((_, hint)) = refused.iter().find(|(n, _)| *n == name) {
            match zlmc::import::onnx::load(&path) {
                Err(e) if e.message.contains(hint) => eprintln!("{name}: refused: {e}"),
                Err(e) => failures.push(format!("{name}: refused without the hint: {e}")),
                Ok(_) => failures.push(format!("{name}: imported, expected a refusal")),
            }
            continue;
        }
        // A single logit or value needs its kind named (`--output-kind`);
        // everything else imports as the graph says.
        let kind = match output {
            "binary" => Some(OutputKind::Binary),
            "values" => Some(OutputKind::Values),
            _ => None,
        };
        let m = match zlmc::import::onnx::load(&path) {
            Ok(m) => m,
            Err(e) if kind.is_some() && e.message.contains("--output-kind") => {
                match zlmc::import::onnx::load_as(&path, kind) {
                    Ok(m) => m,
                    Err(e) => {
                        failures.push(format!("{name}: {e}"));
                        continue;
                    }
                }
            }
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let io = match read_npz(&path.parent().unwrap().join("io.npz")) {
            Ok(io) => io,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let x = rows(&io, "x").unwrap();
        let outputs: Vec<Vec<f32>> = x.iter().map(|x| m.eval(x)).collect();
        let binary = output == "binary";
        // What the framework's outputs are, computed from ours.
        let logits = |z: &[f32]| {
            if binary {
                vec![z[1] - z[0]]
            } else {
                z.to_vec()
            }
        };
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        let probs = |z: &[f32], width: usize| match (binary, width) {
            (true, 2) => vec![1.0 - sigmoid(z[1] - z[0]), sigmoid(z[1] - z[0])],
            (true, _) => vec![sigmoid(z[1] - z[0])],
            _ => softmax(z),
        };
        let mut worst = Vec::new();
        for key in ["logits", "probs", "values"] {
            let Some(want) = rows(&io, key) else { continue };
            let d = outputs
                .iter()
                .zip(&want)
                .map(|(z, w)| {
                    let ours = match key {
                        "logits" => logits(z),
                        "probs" => probs(z, w.len()),
                        _ => z.clone(),
                    };
                    max_diff(&ours, w)
                })
                .fold(0.0, f32::max);
            worst.push(format!("{key} {d:.1e}"));
            if d > 1e-4 {
                failures.push(format!("{name}: {key} differ by {d}"));
            }
        }
        if let Some(t) = io.get("labels") {
            let TensorData::Int(labels) = &t.data else {
                panic!("{name}: labels are not integers");
            };
            let wrong = x
                .iter()
                .zip(labels)
                .filter(|(x, &l)| m.predict(x) as i64 != l)
                .count();
            worst.push(format!("labels {wrong} differ"));
            if wrong > 0 {
                failures.push(format!("{name}: {wrong} labels differ"));
            }
        }
        let acts: Vec<String> = m
            .layers
            .iter()
            .map(|l| format!("{:?}", l.activation))
            .collect();
        eprintln!(
            "{name}: {:?} {} → {}",
            m.output,
            acts.join(" "),
            worst.join(", ")
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
