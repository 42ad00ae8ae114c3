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
fn unsupported_op_names_the_node_and_the_op() {
    assert_eq!(
        error("bad_unsupported_op.onnx"),
        "node 2 (`/act/Tanh`): unsupported op `Tanh`"
    );
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
        zlmc::import::onnx::from_bytes(&bytes, "m")
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
        let e = step_err(node("Add", &["x", "x"], "d"), vec![]);
        assert_eq!(e, "node 0: `Add` of two computed values is not supported");
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
        let mut norm = node("Normalizer", &["x"], "y");
        norm.domain = "ai.onnx.ml".into();
        let e = load(vec![norm], vec![]).unwrap_err();
        assert_eq!(e, "node 0: unsupported op `ai.onnx.ml.Normalizer`");
        let e = load(vec![node("Identity", &["x"], "y")], vec![]).unwrap_err();
        assert_eq!(e, "the graph has no dense layer (MatMul or Gemm)");
    }
}
