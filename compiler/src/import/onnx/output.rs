//! What the graph's last layer means: class scores, one logit of a binary
//! classifier, or values. A one-unit last layer is never read as a
//! one-class classifier: the graph says what it is (a sigmoid, skl2onnx's
//! binary probabilities, a scikit-learn regressor) or the user does.

use super::graph::{Head, Walked};
use crate::quant::float_model::{FloatActivation, FloatLayer, FloatOutput};

/// What the user says the model's output is (`zlmc import onnx --output-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Class scores: the answer is the index of the largest.
    Classify,
    /// One logit: label 1 when it is positive.
    Binary,
    /// Values (regression, scores): the last layer's outputs themselves.
    Values,
}

/// The float model's layers, labels and output kind.
pub struct Output {
    /// The layers; a binary classifier's last layer has two units.
    pub layers: Vec<FloatLayer>,
    /// Class labels, when the graph names them.
    pub labels: Option<Vec<String>>,
    /// What the last layer gives.
    pub output: FloatOutput,
}

/// Finish the walked graph as `kind` says (or as the graph does when `None`);
/// `regressor` says the exporter marked the model as one (skl2onnx's
/// regressors have no label output).
pub fn finish(w: Walked, kind: Option<OutputKind>, regressor: bool) -> Result<Output, String> {
    let mut chain = w.chain;
    let units = chain.width();
    let ask = "say what it gives with `--output-kind binary` (one logit, label 1 when it is \
               positive) or `--output-kind values` (regression)";
    let kind = match (kind, w.head) {
        (Some(k), _) => k,
        (None, Head::BinaryProbs) => OutputKind::Binary,
        (None, Head::Sigmoid) if units == 1 => OutputKind::Binary,
        (None, Head::Plain) if regressor => OutputKind::Values,
        (None, _) if units == 1 => {
            return Err(format!(
                "the last layer has one output, which is no classifier of several classes: {ask}"
            ))
        }
        (None, _) => OutputKind::Classify,
    };
    let labels = w.labels;
    let output = match kind {
        OutputKind::Classify if units == 1 || w.head == Head::BinaryProbs => {
            return Err(format!(
                "`--output-kind classify` needs a last layer of several outputs; this one \
                 has one: {ask}"
            ))
        }
        OutputKind::Classify => FloatOutput::Classes,
        OutputKind::Binary if units != 1 => {
            return Err(format!(
                "`--output-kind binary` needs a last layer of one output (a logit); this \
                 one has {units}"
            ))
        }
        OutputKind::Binary => FloatOutput::Classes,
        OutputKind::Values => {
            match w.head {
                Head::Plain => {}
                // The probabilities are the values asked for.
                Head::Sigmoid => chain.activate(FloatActivation::Sigmoid)?,
                Head::Softmax | Head::BinaryProbs => {
                    return Err("`--output-kind values` of a classifier's probabilities \
                                (Softmax) is not supported; leave the option out to import \
                                it as a classifier"
                        .into())
                }
            }
            FloatOutput::Values
        }
    };
    let mut layers = chain.finish()?;
    if kind == OutputKind::Binary {
        binary_layer(layers.last_mut().expect("finish gives a layer"));
    }
    let units = layers.last().map_or(0, FloatLayer::units);
    let labels = match (output, labels) {
        (FloatOutput::Values, _) => None,
        (_, Some(l)) if l.len() != units => {
            return Err(format!(
                "the graph has {} class labels for {units} outputs",
                l.len()
            ))
        }
        (_, l) => l,
    };
    Ok(Output {
        layers,
        labels,
        output,
    })
}

/// One logit `z` made two class scores `[0, z]`: argmax is class 1 exactly
/// when `z > 0` (a tie goes to class 0, as `σ(0) = ½` does not pass ½).
fn binary_layer(l: &mut FloatLayer) {
    let inputs = l.inputs();
    l.weight.insert(0, vec![0.0; inputs]);
    l.bias.insert(0, 0.0);
}
