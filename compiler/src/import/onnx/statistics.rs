//! Why a graph has more than one input, when the extra ones are a
//! normalization layer's statistics: Keras 3.15's `model.export(...,
//! format="onnx")` leaves an adapted `Normalization` layer's mean and
//! variance as graph inputs, so the file holds no values for them.

use super::proto::{GraphProto, ValueInfoProto};

/// Ops a normalization layer applies its statistics with.
const ELEMENTWISE: [&str; 7] = ["Sub", "Add", "Mul", "Div", "Sqrt", "Pow", "Reciprocal"];

/// The error for a graph whose (non-constant) `inputs` are not exactly one.
pub(super) fn not_one_input(g: &GraphProto, inputs: &[&ValueInfoProto]) -> String {
    let names: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
    let stats = statistics(g, inputs);
    let features: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !stats.contains(n))
        .collect();
    let ([features], false) = (&features[..], stats.is_empty()) else {
        return format!(
            "the graph has {} inputs ({names:?}); zlmc reads models with one feature vector",
            inputs.len()
        );
    };
    let quoted: Vec<String> = stats.iter().map(|n| format!("`{n}`")).collect();
    format!(
        "the graph has {} inputs: the features `{features}` and {}, which look like a \
         normalization layer's mean and variance left as inputs, with no values in the file \
         (Keras 3's `model.export(..., format=\"onnx\")` does this with an adapted \
         `Normalization` layer). Export the model as a SavedModel and convert that with the \
         tf2onnx command line, which embeds them: `model.export(\"saved\")`, then \
         `python -m tf2onnx.convert --saved-model saved --output model.onnx` \
         (docs/import.md, Keras)",
        inputs.len(),
        quoted.join(", ")
    )
}

/// The inputs that look like a layer's statistics: named under a
/// normalization layer or, failing any such name, of a fixed shape (no
/// batch dimension left open) and used only by elementwise arithmetic.
fn statistics<'g>(g: &GraphProto, inputs: &[&'g ValueInfoProto]) -> Vec<&'g str> {
    let named: Vec<&str> = inputs
        .iter()
        .filter(|v| v.name.to_lowercase().contains("normaliz"))
        .map(|v| v.name.as_str())
        .collect();
    if !named.is_empty() {
        return named;
    }
    inputs
        .iter()
        .filter(|v| fixed_shape(v) && only_elementwise_uses(g, &v.name))
        .map(|v| v.name.as_str())
        .collect()
}

/// Whether every dimension of `v` is a number.
fn fixed_shape(v: &ValueInfoProto) -> bool {
    let dims = v
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| &s.dim);
    dims.is_some_and(|d| d.iter().all(|d| d.dim_value.is_some()))
}

/// Whether every node that reads `name` is elementwise arithmetic (or none does).
fn only_elementwise_uses(g: &GraphProto, name: &str) -> bool {
    g.node
        .iter()
        .filter(|n| n.input.iter().any(|i| i == name))
        .all(|n| n.domain.is_empty() && ELEMENTWISE.contains(&n.op_type.as_str()))
}
