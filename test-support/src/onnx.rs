//! Small ONNX models built in the tests, encoded with the importer's own
//! `prost` messages: the shapes and files exporters write, and the hostile
//! ones they never should.

use std::path::Path;

use prost::Message;
use zlmc::import::onnx::proto::*;

/// A float tensor with inline values.
pub fn tensor(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        float_data: v.to_vec(),
        ..Default::default()
    }
}

/// A 1-D int64 tensor (a `Reshape` shape).
pub fn ints(name: &str, v: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: data_type::INT64,
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

/// A float tensor whose data is in `location` at `offset`, `length` bytes
/// (each entry written only when given, as text, the way ONNX stores them).
pub fn external(
    name: &str,
    dims: &[i64],
    location: &str,
    offset: Option<&str>,
    length: Option<&str>,
) -> TensorProto {
    let entry = |k: &str, v: &str| StringStringEntryProto {
        key: k.into(),
        value: v.into(),
    };
    let mut e = vec![entry("location", location)];
    e.extend(offset.map(|o| entry("offset", o)));
    e.extend(length.map(|l| entry("length", l)));
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        external_data: e,
        data_location: 1,
        ..Default::default()
    }
}

/// The little-endian bytes of `v`, as external data holds floats.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A node computing `output` from `inputs`.
pub fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

/// `node` with one integer attribute.
pub fn node_with(op: &str, inputs: &[&str], output: &str, attr: (&str, i64)) -> NodeProto {
    let mut n = node(op, inputs, output);
    n.attribute.push(AttributeProto {
        name: attr.0.into(),
        r#type: attr_type::INT,
        i: attr.1,
        ..Default::default()
    });
    n
}

/// A float value of the given dimensions (`None`: a symbolic size such as the batch).
pub fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            dim_value: d,
            dim_param: d.is_none().then(|| "N".to_string()),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// The encoded model (opset 17) of `nodes` over input `x` of `input` dims, output `y`.
pub fn model(input: &[Option<i64>], nodes: Vec<NodeProto>, init: Vec<TensorProto>) -> Vec<u8> {
    model_at(17, input, nodes, init, vec![value("y", &[])])
}

/// [`model`] at default-domain `opset`, with graph outputs `outputs`.
pub fn model_at(
    opset: i64,
    input: &[Option<i64>],
    nodes: Vec<NodeProto>,
    init: Vec<TensorProto>,
    outputs: Vec<ValueInfoProto>,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        producer_name: "zlmc-tests".into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: init,
            input: vec![value("x", input)],
            output: outputs,
            ..Default::default()
        }),
    }
    .encode_to_vec()
}

/// The weights of [`write_external_mlp`]: `W1` `[inputs, 3]`, `W2` `[3, 2]` (MatMul layout).
pub fn external_mlp_weights(inputs: usize) -> (Vec<f32>, Vec<f32>) {
    let w1 = (0..inputs * 3)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 8.0)
        .collect();
    let w2 = vec![1.0, -1.0, -0.5, 0.75, 0.25, 0.5];
    (w1, w2)
}

/// Write `NAME.onnx` + `NAME.onnx.data` into `dir` as PyTorch 2's exporter
/// does: a `MatMul`-`Relu`-`MatMul` MLP over `x: [N, inputs]` whose two
/// weights live in the data file (`W2` after `W1`). Returns the model's path.
pub fn write_external_mlp(dir: &Path, name: &str, inputs: usize) -> std::path::PathBuf {
    let (w1, w2) = external_mlp_weights(inputs);
    let data = format!("{name}.onnx.data");
    let mut bytes = f32_bytes(&w1);
    let at = bytes.len().to_string();
    bytes.extend(f32_bytes(&w2));
    std::fs::write(dir.join(&data), bytes).expect("write external data");
    let n1 = (w1.len() * 4).to_string();
    let m = model(
        &[None, Some(inputs as i64)],
        vec![
            node("MatMul", &["x", "W1"], "h"),
            node("Relu", &["h"], "r"),
            node("MatMul", &["r", "W2"], "y"),
        ],
        vec![
            external("W1", &[inputs as i64, 3], &data, Some("0"), Some(&n1)),
            external("W2", &[3, 2], &data, Some(&at), Some("24")),
        ],
    );
    let path = dir.join(format!("{name}.onnx"));
    std::fs::write(&path, m).expect("write model");
    path
}

/// `model` with further graph inputs after `x`, each a name and its dims
/// (what an export that leaves a layer's constants as inputs writes).
pub fn with_inputs(model: &[u8], extra: &[(&str, &[Option<i64>])]) -> Vec<u8> {
    let mut m = ModelProto::decode(model).expect("a model built by `model`");
    let g = m.graph.as_mut().expect("a graph");
    g.input
        .extend(extra.iter().map(|(name, dims)| value(name, dims)));
    m.encode_to_vec()
}

/// A float attribute.
pub fn float_attr(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::FLOAT,
        f,
        ..Default::default()
    }
}

/// A float-list attribute.
pub fn floats_attr(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::FLOATS,
        floats: v.to_vec(),
        ..Default::default()
    }
}

/// A string attribute.
pub fn string_attr(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::STRING,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// A string-list attribute.
pub fn strings_attr(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::STRINGS,
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}
