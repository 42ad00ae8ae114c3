//! A quantized model as files (`model.yaml` + `weights.npz`) and as IR.

use zlmc_ir::{Decode, Elem, Encoder, Model, OutputQuant};

use crate::diag::{Diagnostic, Result};
use crate::output::OutFile;

use super::float_model::{FloatLayerKind, FloatOutput};
use super::float_spec::{
    layer_geometry_yaml, named, output_yaml, shape_yaml, window_yaml, FLOAT_SPEC,
};
use super::npz_write::{npz_bytes, Array};
use super::ptq::{QLayer, Quantized};
use crate::frontend::quantize::{AvgDivisor, Layer, LayerKind};
use crate::frontend::spec::activation_yaml;

/// File name of the quantized spec.
pub const MODEL_SPEC: &str = "model.yaml";
/// File name of the quantized tensors.
pub const MODEL_WEIGHTS: &str = "weights.npz";

/// The unoptimized IR of a quantized model.
pub fn to_model(q: &Quantized) -> Model {
    crate::frontend::lower::lower_layers(
        &q.name,
        vec![Encoder::Raw {
            len: q.inputs(),
            quant: Some(q.input),
        }],
        decode(q),
        q.layers
            .iter()
            .map(|l| Layer {
                kind: l.kind,
                data: l.data.clone(),
                acc: l.acc,
            })
            .collect(),
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
            count: q.outputs(),
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

/// The accumulator most layers with weights use, written as the spec's default.
fn default_acc(q: &Quantized) -> Elem {
    let weighted = q.weighted();
    let n16 = weighted
        .iter()
        .filter(|&&l| q.layers[l].acc == Elem::I16)
        .count();
    if n16 * 2 > weighted.len() {
        Elem::I16
    } else {
        Elem::I32
    }
}

/// `model.yaml` and `weights.npz`; `header` lines go first as comments.
pub fn quantized_files(q: &Quantized, header: &[String], reference: bool) -> Result<Vec<OutFile>> {
    let inputs = q.inputs();
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
        let mut line = format!("  - {{name: {}, {}", int_layer_name(l, n), kind_yaml(l));
        if !l.is_pool() {
            line.push_str(&format!(", shift: {}", l.data.shift));
        }
        if let Some(a) = &l.data.activation {
            line.push_str(&format!(", activation: {}", activation_yaml(a)));
        }
        if l.acc != acc && !l.is_pool() {
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
                format!("{}_weight", int_layer_name(&q.layers[n], n)),
                format!("{}_bias", int_layer_name(&q.layers[n], n)),
            )
        })
        .collect();
    let mut arrays = Vec::new();
    for (l, (wn, bn)) in q.layers.iter().zip(&names) {
        if l.is_pool() {
            continue;
        }
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

/// Name of integer layer `n` in written specs: the float layer's it came from.
fn int_layer_name(l: &QLayer, n: usize) -> String {
    let stem = match l.kind {
        LayerKind::Dense => "fc",
        LayerKind::Conv { .. } => "conv",
        LayerKind::MaxPool { .. } | LayerKind::AvgPool { .. } => "pool",
    };
    named(stem, n)
}

/// What an integer layer is, as its spec entry writes it after the name.
fn kind_yaml(l: &QLayer) -> String {
    let rows = l.data.weights.rows;
    match l.kind {
        LayerKind::Dense => layer_geometry_yaml(FloatLayerKind::Dense, rows, rows),
        LayerKind::Conv {
            input,
            window,
            groups,
        } => layer_geometry_yaml(
            FloatLayerKind::Conv {
                input,
                window,
                groups,
            },
            rows,
            0,
        ),
        LayerKind::MaxPool { input, window } => {
            layer_geometry_yaml(FloatLayerKind::MaxPool { input, window }, 0, 0)
        }
        LayerKind::AvgPool {
            input,
            window,
            divisor: AvgDivisor { mul, shift },
        } => format!(
            "avgpool: {{input: {}, {}, mul: {mul}, shift: {shift}}}",
            shape_yaml(input, window),
            window_yaml(input, window)
        ),
    }
}
