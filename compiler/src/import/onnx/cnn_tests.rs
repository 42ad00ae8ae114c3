//! Convolutional graphs built by hand: what the framework fixtures do not
//! spell (a `BatchNormalization` node after a `Conv`, channels-last input with
//! several channels, refused attributes).

use prost::Message;

use super::from_bytes;
use super::proto::{
    attr_type, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, TypeTensor, ValueInfoProto,
};
use crate::quant::float_model::{FloatActivation, FloatLayerKind};

fn tensor(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        float_data: v.to_vec(),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::INTS,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

/// A model from input `x` of shape `[N, dims…]` through `nodes` to `y`.
fn model(dims: &[i64], nodes: Vec<NodeProto>, init: Vec<TensorProto>) -> Vec<u8> {
    let mut dim = vec![Dimension {
        dim_param: Some("N".into()),
        ..Default::default()
    }];
    dim.extend(dims.iter().map(|&d| Dimension {
        dim_value: Some(d),
        ..Default::default()
    }));
    let x = ValueInfoProto {
        name: "x".into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: init,
            input: vec![x],
            output: vec![ValueInfoProto {
                name: "y".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Conv(1→2 channels, 3 taps, pad 1) on a 1-D signal of 4, then `mid`, then
/// Flatten and a Gemm to 2 outputs.
fn conv_then(mid: Vec<NodeProto>, extra: Vec<TensorProto>) -> Vec<u8> {
    let mut nodes = vec![node(
        "Conv",
        &["x", "w", "b"],
        "c",
        vec![ints("kernel_shape", &[3]), ints("pads", &[1, 1])],
    )];
    let last = mid.last().map_or("c".to_string(), |n| n.output[0].clone());
    nodes.extend(mid);
    nodes.push(node("Flatten", &[&last], "f", vec![]));
    nodes.push(node("Gemm", &["f", "g"], "y", vec![]));
    let mut init = vec![
        tensor("w", &[2, 1, 3], &[1.0, 2.0, 3.0, -1.0, 0.0, 1.0]),
        tensor("b", &[2], &[0.5, -0.5]),
        tensor("g", &[8, 2], &[0.25; 16]),
    ];
    init.extend(extra);
    model(&[1, 4], nodes, init)
}

#[test]
fn a_batch_normalization_node_after_a_conv_folds_into_it() {
    let bn = node(
        "BatchNormalization",
        &["c", "scale", "bias", "mean", "var"],
        "n",
        vec![],
    );
    let relu = node("Relu", &["n"], "r", vec![]);
    let extra = vec![
        tensor("scale", &[2], &[2.0, 1.0]),
        tensor("bias", &[2], &[1.0, 0.0]),
        tensor("mean", &[2], &[0.5, 0.0]),
        tensor("var", &[2], &[1.0 - 1e-5, 4.0 - 1e-5]),
    ];
    let m = from_bytes(&conv_then(vec![bn, relu], extra), "m").unwrap();
    assert_eq!(m.layers.len(), 2);
    let conv = &m.layers[0];
    assert!(matches!(conv.kind, FloatLayerKind::Conv { groups: 1, .. }));
    assert_eq!(conv.activation, FloatActivation::Relu);
    // Channel 0: (x − 0.5)·2/1 + 1 on a bias of 0.5 → weights ×2, bias 1;
    // channel 1: x/2 → weights ×0.5, bias −0.25.
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    assert!(
        close(&conv.weight[0], &[2.0, 4.0, 6.0]),
        "{:?}",
        conv.weight
    );
    assert!(
        close(&conv.weight[1], &[-0.5, 0.0, 0.5]),
        "{:?}",
        conv.weight
    );
    assert!(close(&conv.bias, &[1.0, -0.25]), "{:?}", conv.bias);
}

#[test]
fn a_bias_per_element_after_a_conv_is_refused_with_the_reason() {
    let add = node("Add", &["c", "k"], "a", vec![]);
    let k: Vec<f32> = (0..8).map(|i| i as f32).collect();
    let e = from_bytes(&conv_then(vec![add], vec![tensor("k", &[2, 4], &k)]), "m").unwrap_err();
    assert!(e.contains("differs within output channel 0"), "{e}");
}

#[test]
fn dilation_and_ceil_mode_are_refused_by_name() {
    let conv = node(
        "Conv",
        &["x", "w"],
        "c",
        vec![ints("kernel_shape", &[3]), ints("dilations", &[2])],
    );
    let gemm = node("Gemm", &["c", "g"], "y", vec![]);
    let bytes = model(
        &[1, 8],
        vec![conv, gemm],
        vec![
            tensor("w", &[1, 1, 3], &[1.0; 3]),
            tensor("g", &[4, 1], &[1.0; 4]),
        ],
    );
    let e = from_bytes(&bytes, "m").unwrap_err();
    assert!(
        e.starts_with("node 0: `Conv` with dilations [2] is not supported"),
        "{e}"
    );
    let mut pool = node("MaxPool", &["x"], "y", vec![ints("kernel_shape", &[2])]);
    pool.attribute.push(AttributeProto {
        name: "ceil_mode".into(),
        r#type: attr_type::INT,
        i: 1,
        ..Default::default()
    });
    pool.attribute.push(ints("strides", &[2]));
    let e = from_bytes(&model(&[1, 7], vec![pool], vec![]), "m").unwrap_err();
    assert!(e.contains("ceil_mode=1 adds a partial window"), "{e}");
}

#[test]
fn a_channels_last_input_with_several_channels_is_refused_before_a_conv() {
    let t = node("Transpose", &["x"], "t", vec![ints("perm", &[0, 3, 1, 2])]);
    let conv = node(
        "Conv",
        &["t", "w"],
        "y",
        vec![ints("kernel_shape", &[1, 1])],
    );
    let bytes = model(
        &[2, 2, 3],
        vec![t, conv],
        vec![tensor("w", &[1, 3, 1, 1], &[1.0; 3])],
    );
    let e = from_bytes(&bytes, "m").unwrap_err();
    assert!(
        e.contains("channels-last input with several channels"),
        "{e}"
    );
}

#[test]
fn a_transposed_map_feeds_the_dense_layer_in_the_order_the_graph_sees_it() {
    // x: [N, 2 channels, 2] → Transpose to [N, 2 (length), 2 (channels)] →
    // Flatten → Gemm picking flat element 1, which is (l 0, c 1): x[1·2 + 0].
    let t = node("Transpose", &["x"], "t", vec![ints("perm", &[0, 2, 1])]);
    let conv = node("Conv", &["x", "w"], "c", vec![ints("kernel_shape", &[1])]);
    let relu = node("Relu", &["c"], "r", vec![]);
    let t2 = node("Transpose", &["r"], "t2", vec![ints("perm", &[0, 2, 1])]);
    let f = node("Flatten", &["t2"], "f", vec![]);
    let gemm = node("Gemm", &["f", "g"], "y", vec![]);
    let mut g = vec![0.0; 8];
    g[2] = 1.0; // column 0 reads flat element 1
    g[7] = 1.0; // column 1 reads flat element 3: (l 1, c 1)
    let bytes = model(
        &[2, 2],
        vec![t, conv, relu, t2, f, gemm],
        vec![
            tensor("w", &[2, 2, 1], &[1.0, 0.0, 0.0, 1.0]),
            tensor("g", &[4, 2], &g),
        ],
    );
    let m = from_bytes(&bytes, "m").unwrap();
    // The first Transpose is unused; the conv is the identity on [c0, c1].
    let out = m.eval(&[10.0, 20.0, 30.0, 40.0]);
    assert_eq!(out, [30.0, 40.0]);
}
