//! From loaded tensors to integer layer data: find each layer's tensors,
//! check shapes and value ranges, and round float tensors when asked to.

use std::path::Path;

use zlmc_ir::{DenseWeights, Elem, WeightKind};

use super::spec::{Activation, PathStep, Spec};
use super::tensors::{Tensor, TensorData, TensorMap};
use super::Checked;
use crate::diag::{Diagnostic, Result};

/// One layer's integer parameters.
#[derive(Debug, Clone)]
pub struct LayerData {
    /// Weights `[units × inputs]`.
    pub weights: DenseWeights,
    /// Bias per unit, in accumulator range.
    pub bias: Vec<i64>,
    /// Right shift after the bias.
    pub shift: u32,
    /// Whether ReLU follows.
    pub relu: bool,
}

/// Locates an error in the spec by path.
pub type Locate<'a> = dyn Fn(&[PathStep], String) -> Diagnostic + 'a;

/// Find, check and convert every layer's tensors.
pub fn layer_tensors(
    spec: &Spec,
    checked: &Checked,
    tensors: &TensorMap,
    weights_path: &Path,
    err: &Locate,
) -> Result<Vec<LayerData>> {
    let mut inputs: usize = checked.encoders.iter().map(|e| e.len()).sum();
    let mut out = Vec::new();
    for (i, l) in spec.layers.iter().enumerate() {
        let at = [PathStep::Key("layers"), PathStep::Item(i)];
        let wt = find(tensors, l.weight.as_deref(), &l.name, "weight")
            .map_err(|names| missing(err, &at, weights_path, &names, tensors))?;
        let bt = find(tensors, l.bias.as_deref(), &l.name, "bias")
            .map_err(|names| missing(err, &at, weights_path, &names, tensors))?;
        let (wname, wt) = wt;
        let (bname, bt) = bt;
        if wt.shape != [l.units, inputs] {
            return Err(err(
                &at,
                format!(
                    "tensor `{wname}` in {} has shape {:?}, but layer {} needs [{}, {inputs}] ([units, inputs])",
                    weights_path.display(),
                    wt.shape,
                    l.name,
                    l.units
                ),
            ));
        }
        if bt.shape != [l.units] {
            return Err(err(
                &at,
                format!(
                    "tensor `{bname}` in {} has shape {:?}, but layer {} needs [{}]",
                    weights_path.display(),
                    bt.shape,
                    l.name,
                    l.units
                ),
            ));
        }
        let data = weight_values(wname, wt, checked.kind, spec, weights_path, inputs)
            .map_err(|m| err(&at, m))?;
        let bias = bias_values(bname, bt, checked.layer_accs[i], spec, weights_path)
            .map_err(|m| err(&at, m))?;
        out.push(LayerData {
            weights: DenseWeights {
                kind: checked.kind,
                rows: l.units,
                cols: inputs,
                data,
            },
            bias,
            shift: l.shift,
            relu: l.activation == Activation::Relu,
        });
        inputs = l.units;
    }
    Ok(out)
}

fn find<'t>(
    tensors: &'t TensorMap,
    explicit: Option<&str>,
    layer: &str,
    what: &str,
) -> std::result::Result<(&'t str, &'t Tensor), Vec<String>> {
    let names = match explicit {
        Some(n) => vec![n.to_string()],
        None => vec![format!("{layer}_{what}"), format!("{layer}.{what}")],
    };
    for n in &names {
        if let Some((k, t)) = tensors.get_key_value(n.as_str()) {
            return Ok((k.as_str(), t));
        }
    }
    Err(names)
}

fn missing(
    err: &Locate,
    at: &[PathStep],
    file: &Path,
    names: &[String],
    tensors: &TensorMap,
) -> Diagnostic {
    let have: Vec<&str> = tensors
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with('_'))
        .collect();
    err(
        at,
        format!(
            "tensor `{}` not found in {}",
            names.join("` or `"),
            file.display()
        ),
    )
    .help(format!("the file holds: {}", have.join(", ")))
}

fn quantize_needed(name: &str, t: &Tensor) -> String {
    format!(
        "tensor `{name}` holds {} values, but no quantization was asked for; add `quantize:` under `numerics:` to round float tensors",
        t.dtype
    )
}

fn weight_values(
    name: &str,
    t: &Tensor,
    kind: WeightKind,
    spec: &Spec,
    file: &Path,
    cols: usize,
) -> std::result::Result<Vec<i8>, String> {
    match &t.data {
        TensorData::Int(v) => v
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                if kind.allows(w) {
                    Ok(w as i8)
                } else {
                    let (lo, hi) = kind.range();
                    Err(format!(
                        "tensor `{name}` in {}: value {w} at [{}, {}] is not an {kind} weight ({kind} allows {})",
                        file.display(),
                        i / cols,
                        i % cols,
                        if kind == WeightKind::Binary { "-1 and +1".to_string() } else { format!("{lo}..={hi}") }
                    ))
                }
            })
            .collect(),
        TensorData::Float(v) => {
            let q = spec.numerics.quantize.as_ref().ok_or_else(|| quantize_needed(name, t))?;
            let (lo, hi) = kind.range();
            Ok(v
                .iter()
                .map(|&w| {
                    let r = (w * q.weight_scale).round().clamp(lo as f64, hi as f64) as i8;
                    if kind == WeightKind::Binary && r == 0 {
                        if w < 0.0 {
                            -1
                        } else {
                            1
                        }
                    } else {
                        r
                    }
                })
                .collect())
        }
        TensorData::Bytes(_) => Err(format!("tensor `{name}` holds bytes, not numbers")),
    }
}

fn bias_values(
    name: &str,
    t: &Tensor,
    acc: Elem,
    spec: &Spec,
    file: &Path,
) -> std::result::Result<Vec<i64>, String> {
    match &t.data {
        TensorData::Int(v) => v
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if acc.wrap(b) == b {
                    Ok(b)
                } else {
                    Err(format!(
                        "tensor `{name}` in {}: bias {b} at [{i}] does not fit the {}-bit accumulator",
                        file.display(),
                        acc.bits()
                    ))
                }
            })
            .collect(),
        TensorData::Float(v) => {
            let q = spec.numerics.quantize.as_ref().ok_or_else(|| quantize_needed(name, t))?;
            let lim = (1i64 << (acc.bits() - 1)) as f64;
            Ok(v.iter().map(|&b| (b * q.bias_scale).round().clamp(-lim, lim - 1.0) as i64).collect())
        }
        TensorData::Bytes(_) => Err(format!("tensor `{name}` holds bytes, not numbers")),
    }
}
