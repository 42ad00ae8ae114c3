//! Read a float MLP from an ONNX file, as `torch.onnx.export` (default and
//! legacy exporters), tf2onnx (Keras `Dense`, `BatchNormalization`,
//! `Normalization`) and skl2onnx (`MLPClassifier`, `MLPRegressor`, linear
//! models, with or without a `StandardScaler` pipeline) write them.
//!
//! The graph is walked node by node ([`graph`]); linear ops (and batch
//! normalization in inference form) compose into dense layers exactly
//! ([`chain`]), input normalization folds into the first layer, elementwise
//! functions become the activation of the layer before ([`elementwise`]: one
//! op such as `Tanh`, or several such as GELU spelled with `Erf`), a final
//! `Softmax`/`LogSoftmax`/`Sigmoid`/`ArgMax` is dropped (the argmax is the
//! same), and [`output`] decides whether the last layer gives classes, one
//! binary logit or values, keeping the classifier's labels. Anything else is
//! an error naming the node and the op. Weights may live in a data file
//! beside the model ([`external`]), as PyTorch 2's default exporter writes them.
//!
//! Convolutional networks (`Conv`, `MaxPool`, `AveragePool`,
//! `GlobalAveragePool`) become convolution and pooling layers over
//! channel-major maps; a batch normalization or bias after a convolution
//! folds into it. Keras's channels-last graphs are read through [`maps`]:
//! a `Transpose` of a map changes only the order the next dense layer reads
//! it in, and the `Shape`/`Gather`/`Slice`/`Concat` arithmetic around a
//! flatten is folded as the constants it is.
//!
//! # Why `prost`, with the messages written out here
//!
//! ONNX files are protobuf. Decoding uses `prost` (tokio-rs, widely used, no
//! build script): the ONNX messages are declared in [`proto`] with
//! `#[derive(prost::Message)]`, keeping only the fields this reader needs;
//! prost skips unknown fields, so nothing else in `onnx.proto` has to be
//! mirrored. Nothing runs at build time: no `protoc`, no network. Measured on
//! this 2-core machine, `prost` plus `prost-derive` add about 25 s of one-off
//! compile (syn and the rest were already in the tree). The alternatives:
//! `onnx-protobuf` 0.2.3 (all of `onnx.proto`, generated for rust-protobuf)
//! fails to build against the current `protobuf` 3.7 (`VERSION_3_4_0` check),
//! and pulls the larger rust-protobuf runtime; `tract-onnx` would also run the
//! float graph, but brings 116 crates (prost's tree is 13) and minutes of
//! compile for a job that is, here, reading a few matrices.

pub mod chain;
pub mod elementwise;
pub mod external;
pub mod graph;
pub mod maps;
pub mod output;
pub mod proto;
pub mod statistics;
pub mod tensor;

#[cfg(test)]
mod cnn_tests;

use std::path::Path;

use prost::Message;

use crate::diag::Diagnostic;
use crate::quant::float_model::FloatMlp;
use external::ExternalFiles;
pub use output::OutputKind;

/// Largest `.onnx` file read (weights of MCU-sized models are kilobytes),
/// external data files included.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Read the ONNX model at `path` as a float MLP named after the file, its
/// output read as the graph says.
pub fn load(path: &Path) -> Result<FloatMlp, Diagnostic> {
    load_as(path, None)
}

/// [`load`], with the output read as `kind` says when given.
pub fn load_as(path: &Path, kind: Option<OutputKind>) -> Result<FloatMlp, Diagnostic> {
    let err = |m: String| Diagnostic::in_file(path, m);
    let size = std::fs::metadata(path)
        .map_err(|e| err(format!("cannot read ONNX model: {e}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(err(format!(
            "the file is {size} bytes, over the limit of {MAX_FILE_BYTES}"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read ONNX model: {e}")))?;
    // External data files are named relative to the model's folder.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let external = ExternalFiles::in_folder(dir, MAX_FILE_BYTES - size);
    decode(&bytes, &model_name(path), external, kind).map_err(err)
}

/// Decode an ONNX model from memory; errors are messages without the file name.
/// A tensor with external data is an error: there is no folder to read it from.
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<FloatMlp, String> {
    from_bytes_as(bytes, name, None)
}

/// [`from_bytes`], with the output read as `kind` says when given.
pub fn from_bytes_as(
    bytes: &[u8],
    name: &str,
    kind: Option<OutputKind>,
) -> Result<FloatMlp, String> {
    decode(bytes, name, ExternalFiles::none(), kind)
}

/// Decode an ONNX model, reading external data through `external`.
fn decode(
    bytes: &[u8],
    name: &str,
    mut external: ExternalFiles,
    kind: Option<OutputKind>,
) -> Result<FloatMlp, String> {
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| format!("not a valid ONNX model (protobuf: {e})"))?;
    let graph = model.graph.as_ref().ok_or("the ONNX model has no graph")?;
    // The opset decides defaults (Softmax's axis); ONNX requires it declared.
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .ok_or("the ONNX model imports no standard (ai.onnx) opset")?
        .version;
    let walked = graph::walk(graph, opset, &mut external)?;
    let inputs = walked.chain.inputs;
    // skl2onnx writes a classifier's labels (and its label output), a
    // regressor's values only; ONNX-ML's LinearRegressor is one whoever wrote it.
    let linear_regressor = graph
        .node
        .iter()
        .any(|n| n.domain == "ai.onnx.ml" && n.op_type == "LinearRegressor");
    let regressor = linear_regressor
        || (model.producer_name == "skl2onnx"
            && walked.head == graph::Head::Plain
            && walked.labels.is_none());
    let out = output::finish(walked, kind, regressor)?;
    Ok(FloatMlp {
        name: name.to_string(),
        inputs,
        layers: out.layers,
        labels: out.labels,
        output: out.output,
    })
}

/// File stems that name no model: what exporters and their examples call
/// any file (`model.onnx`, `net.onnx`).
const STEMS_THAT_NAME_NOTHING: [&str; 4] = ["model", "onnx", "net", "network"];

/// The name of the folder `dir` for a model read from `path`, when the
/// file's own name says nothing ([`STEMS_THAT_NAME_NOTHING`]) and the
/// folder's does: every `model.onnx` would otherwise make a model `model`
/// (`model_model.S`, `model_step()`).
pub fn folder_name_instead(path: &Path, dir: &Path) -> Option<String> {
    if !STEMS_THAT_NAME_NOTHING.contains(&model_name(path).as_str()) {
        return None;
    }
    let folder = std::path::absolute(dir).ok()?.file_name()?.to_owned();
    let name = super::identifier_from(&folder.to_string_lossy());
    (!STEMS_THAT_NAME_NOTHING.contains(&name.as_str())).then_some(name)
}

/// The file stem made into a C identifier (`digits.onnx` → `digits`).
fn model_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    super::identifier_from(&stem)
}
