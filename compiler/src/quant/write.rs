//! A quantized model as files (`model.yaml` + `weights.npz`) and as IR.

use zlmc_ir::{Decode, Elem, Encoder, Model, OutputQuant};

use crate::diag::{Diagnostic, Result};
use crate::output::OutFile;

use super::float_model::FloatOutput;
use super::float_spec::{layer_name, output_yaml, FLOAT_SPEC};
use super::npz_write::{npz_bytes, Array};
use super::ptq::Quantized;
use crate::frontend::spec::activation_yaml;

/// File name of the quantized spec.
pub const MODEL_SPEC: &str = "model.yaml";
/// File name of the quantized tensors.
pub const MODEL_WEIGHTS: &str = "weights.npz";

/// The unoptimized IR of a quantized model.
pub fn to_model(q: &Quantized) -> Model {
    let inputs = q.layers.first().map_or(0, |l| l.data.weights.cols);
    crate::frontend::lower::lower_with_accs(
        &q.name,
        vec![Encoder::Raw {
            len: inputs,
            quant: Some(q.input),
        }],
        decode(q),
        q.layers.iter().map(|l| (l.data.clone(), l.acc)).collect(),
    )
}

/// How the model's answer is read: its classes, or its values in the last
/// layer's scale and zero point.
fn decode(q: &Quantized) -> Decode {
    match q.output {
        FloatOutput::Classes => Decode::Classify {
            labels: q.labels.clone(),
        },
        FloatOutput::Values => Decode::Values {
            count: q.layers.last().map_or(0, |l| l.data.weights.rows),
            quant: output_quant(q),
        },
    }
}

/// What one of a values model's outputs stands for.
fn output_quant(q: &Quantized) -> OutputQuant {
    OutputQuant {
        scale: q.output_scale,
        zero_point: q.output_zero_point,
    }
}

/// The accumulator most layers use, written as the spec's default.
fn default_acc(q: &Quantized) -> Elem {
    let n16 = q.layers.iter().filter(|l| l.acc == Elem::I16).count();
    if n16 * 2 > q.layers.len() {
        Elem::I16
    } else {
        Elem::I32
    }
}

/// `model.yaml` and `weights.npz`; `header` lines go first as comments.
pub fn quantized_files(q: &Quantized, header: &[String], reference: bool) -> Result<Vec<OutFile>> {
    let inputs = q.layers.first().map_or(0, |l| l.data.weights.cols);
    let kind = q
        .layers
        .first()
        .map_or("int8", |l| l.data.weights.kind.name());
    let acc = default_acc(q);
    let mut y: String = header.iter().map(|h| format!("# {h}\n")).collect();
    y.push_str(&format!(
        "zlmc: 1\nname: {}\nweights: {}\n",
        q.name,
        super::write::MODEL_WEIGHTS
    ));
    if reference {
        y.push_str(&format!("reference: {FLOAT_SPEC}\n"));
    }
    let i = &q.input;
    y.push_str(&format!(
        "input:\n  - raw: {{size: {inputs}, scale: {:?}, zero_point: {}",
        i.scale, i.zero_point
    ));
    if let Some((lo, hi)) = i.range {
        y.push_str(&format!(", range: [{lo:?}, {hi:?}]"));
    }
    y.push_str(&format!(
        "}}\nnumerics:\n  weights: {kind}\n  accumulator: {}\nlayers:\n",
        acc.bits()
    ));
    for (n, l) in q.layers.iter().enumerate() {
        let mut line = format!(
            "  - {{name: {}, units: {}, shift: {}",
            layer_name(n),
            l.data.weights.rows,
            l.data.shift
        );
        if let Some(a) = &l.data.activation {
            line.push_str(&format!(", activation: {}", activation_yaml(a)));
        }
        if l.acc != acc {
            line.push_str(&format!(", accumulator: {}", l.acc.bits()));
        }
        y.push_str(&line);
        y.push_str("}\n");
    }
    match q.output {
        FloatOutput::Classes => y.push_str(&output_yaml(&q.labels)),
        FloatOutput::Values => {
            let o = output_quant(q);
            y.push_str(&format!(
                "output:\n  values: {{scale: {:?}, zero_point: {}}}\n",
                o.scale, o.zero_point
            ));
        }
    }
    let names: Vec<(String, String)> = (0..q.layers.len())
        .map(|n| {
            (
                format!("{}_weight", layer_name(n)),
                format!("{}_bias", layer_name(n)),
            )
        })
        .collect();
    let mut arrays = Vec::new();
    for (l, (wn, bn)) in q.layers.iter().zip(&names) {
        let w = &l.data.weights;
        arrays.push(Array::I8(wn, vec![w.rows, w.cols], w.data.clone()));
        let bias: Vec<i32> = l.data.bias.iter().map(|&b| b as i32).collect();
        arrays.push(Array::I32(bn, vec![w.rows], bias));
    }
    let npz =
        npz_bytes(&arrays).map_err(|e| Diagnostic::new(format!("cannot pack weights: {e}")))?;
    Ok(vec![
        (MODEL_SPEC.to_string(), y.into_bytes()),
        (MODEL_WEIGHTS.to_string(), npz),
    ])
}
