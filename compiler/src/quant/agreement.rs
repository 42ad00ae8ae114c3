//! The check `import` and `quantize` run after quantizing: the integer model
//! (through the reference interpreter) against the float model on the
//! calibration data, so a quantization that collapses never passes silently.
//!
//! Reported: the share of samples where both predict the same class, the
//! accuracy of both when the data has labels, and per layer the relative RMS
//! error of the integer layer's dequantized output against the float layer's
//! output. Under [`WARN_BELOW`] agreement a warning names the layer where the
//! error starts and what to try.

use std::io::Write;

use zlmc_ir::interp::{self, Value};
use zlmc_ir::{Elem, Graph, NodeId, Op, WeightKind};

use super::dataset::Dataset;
use super::float_model::{FloatMlp, FloatOutput};
use super::float_spec::float_layer_name;
use super::ptq::Quantized;

/// Agreement with the float model under which `import` and `quantize` warn.
pub const WARN_BELOW: f64 = 0.97;

/// Calibration sets smaller than this are worth growing when agreement is low.
const FEW_SAMPLES: usize = 1000;

/// A weight this many times a layer's median weight magnitude points at an
/// input normalization gone wrong (a feature divided by a near-zero spread).
const OUTLIER_RATIO: f64 = 1000.0;

/// One layer's quantization error on the calibration data.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerError {
    /// Layer name (`fc1`, …).
    pub name: String,
    /// `sqrt(Σ (ŷ − y)² / Σ y²)` over every sample and unit: `ŷ` the integer
    /// layer's output times its scale, `y` the float layer's output.
    pub relative_rms: f64,
}

/// How the integer model compares with the float model on the calibration data.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// Samples compared.
    pub samples: usize,
    /// Samples where both models predict the same class; `None` for a values model.
    pub same_class: Option<usize>,
    /// Correct predictions of the float and the integer model, when the data has labels.
    pub correct: Option<(usize, usize)>,
    /// Mean absolute difference of the last layer's outputs (dequantized) from the float model's.
    pub output_mae: f64,
    /// Per layer, first to last.
    pub layers: Vec<LayerError>,
}

impl Agreement {
    /// The share of samples with the same predicted class, for a classifier.
    pub fn agreement(&self) -> Option<f64> {
        self.same_class
            .map(|s| s as f64 / self.samples.max(1) as f64)
    }

    /// Whether the warning is due: agreement under [`WARN_BELOW`].
    pub fn is_low(&self) -> bool {
        self.agreement().is_some_and(|a| a < WARN_BELOW)
    }

    /// The layer where the error starts: the first whose relative error is at
    /// least half the largest (error that appears at one layer and is carried
    /// on by the rest is named where it appears).
    pub fn error_start(&self) -> Option<usize> {
        let top = self
            .layers
            .iter()
            .map(|l| l.relative_rms)
            .fold(0.0, f64::max);
        self.layers
            .iter()
            .position(|l| l.relative_rms >= 0.5 * top && top > 0.0)
    }
}

/// The float value of one step of each layer's int16 output.
pub fn output_scales(q: &Quantized) -> Vec<f64> {
    q.layers.iter().map(|l| l.scale).collect()
}

/// The node holding each layer's output: what the next layer's `matmul`,
/// `conv` or pool reads, and for the last layer what `argmax` reads (seen
/// through the `reshape`s and `flatten`s between, which move no data).
fn layer_outputs(g: &Graph) -> Vec<NodeId> {
    let order = g.topo_order().expect("a lowered model is acyclic");
    let through_views = |mut n: NodeId| {
        while matches!(g.node(n).op, Op::Reshape { .. } | Op::Flatten) {
            n = g.operands(n)[0];
        }
        n
    };
    let mut outs: Vec<NodeId> = order
        .iter()
        .filter(|&&n| {
            matches!(
                g.node(n).op,
                Op::MatMul { .. } | Op::Conv { .. } | Op::MaxPool { .. } | Op::AvgPool { .. }
            )
        })
        .skip(1)
        .map(|&n| through_views(g.operands(n)[0]))
        .collect();
    if let Some(o) = g.output() {
        outs.push(through_views(g.operands(o)[0]));
    }
    outs
}

/// Run the integer model `q` (quantized from `m`) and `m` on `data`.
pub fn measure(m: &FloatMlp, q: &Quantized, data: &Dataset) -> Agreement {
    let model = super::write::to_model(q);
    let g = &model.graph;
    let outs = layer_outputs(g);
    let scales = output_scales(q);
    let n = m.layers.len();
    let (mut err2, mut ref2) = (vec![0.0f64; n], vec![0.0f64; n]);
    let (mut same, mut float_ok, mut int_ok) = (0, 0, 0);
    let (mut abs_sum, mut abs_count) = (0.0, 0usize);
    for (k, x) in data.x.iter().enumerate() {
        let input: Vec<i16> = x.iter().map(|&v| q.input.quantize(f64::from(v))).collect();
        let vals = interp::eval(g, &input);
        let mut fx = x.clone();
        let mut int_last: Vec<i64> = Vec::new();
        for (l, layer) in m.layers.iter().enumerate() {
            fx = layer.forward(&fx);
            let Some(Value::Vec(iv)) = outs.get(l).map(|o| &vals[o]) else {
                continue;
            };
            let per = q.layers[l].channel_scales.as_deref();
            let plane = per.map_or(1, |c| (iv.len() / c.len().max(1)).max(1));
            for (e, (&i, &f)) in iv.iter().zip(&fx).enumerate() {
                let scale = per.map_or(scales[l], |c| c[e / plane]);
                let d = (i - q.layers[l].zero_point) as f64 * scale - f64::from(f);
                err2[l] += d * d;
                ref2[l] += f64::from(f) * f64::from(f);
                if l + 1 == n {
                    abs_sum += d.abs();
                    abs_count += 1;
                }
            }
            int_last.clone_from(iv);
        }
        let fc = argmax_f32(&fx);
        let ic = interp::argmax(&int_last);
        same += usize::from(fc == ic);
        if let Some(&y) = data.y.get(k) {
            float_ok += usize::from(fc == y);
            int_ok += usize::from(ic == y);
        }
    }
    let classes = m.output == FloatOutput::Classes;
    Agreement {
        samples: data.x.len(),
        same_class: classes.then_some(same),
        correct: (classes && data.y.len() == data.x.len()).then_some((float_ok, int_ok)),
        output_mae: abs_sum / abs_count.max(1) as f64,
        layers: (0..n)
            .map(|l| LayerError {
                name: float_layer_name(&m.layers[l], l),
                relative_rms: if ref2[l] > 0.0 {
                    (err2[l] / ref2[l]).sqrt()
                } else if err2[l] > 0.0 {
                    f64::INFINITY
                } else {
                    0.0
                },
            })
            .collect(),
    }
}

/// The first index of the largest value, as `FloatMlp::predict` picks.
fn argmax_f32(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Print the check: agreement (or the values' error), accuracy, per-layer error.
pub fn print(a: &Agreement, out: &mut dyn Write) -> std::io::Result<()> {
    let pct = |c: usize| 100.0 * c as f64 / a.samples.max(1) as f64;
    write!(out, "check on {} calibration samples: ", a.samples)?;
    match a.same_class {
        Some(s) => write!(out, "agreement with the float model {:.2} %", pct(s))?,
        None => write!(
            out,
            "mean absolute error against the float model {}",
            significant(a.output_mae)
        )?,
    }
    if let Some((f, i)) = a.correct {
        write!(
            out,
            "; accuracy {:.2} % (float {:.2} %, drop {:.2} points)",
            pct(i),
            pct(f),
            pct(f) - pct(i)
        )?;
    }
    writeln!(out)?;
    let per: Vec<String> = a
        .layers
        .iter()
        .map(|l| format!("{} {}", l.name, percent(l.relative_rms)))
        .collect();
    writeln!(
        out,
        "layer error (relative RMS against the float layer): {}",
        per.join(", ")
    )
}

/// Print the warning for low agreement on `err`: where the error starts and
/// what to try. Nothing when agreement is at least [`WARN_BELOW`].
pub fn warn(
    a: &Agreement,
    m: &FloatMlp,
    q: &Quantized,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let Some(agree) = a.agreement().filter(|_| a.is_low()) else {
        return Ok(());
    };
    let start = a.error_start().unwrap_or(0);
    writeln!(
        err,
        "warning: the integer model agrees with the float model on only {:.2} % of the calibration samples (under {:.0} %); the error starts at layer {} ({} relative error)",
        100.0 * agree,
        100.0 * WARN_BELOW,
        a.layers[start].name,
        percent(a.layers[start].relative_rms)
    )?;
    for t in advice(a, m, q, start) {
        writeln!(err, "  try: {t}")?;
    }
    Ok(())
}

/// What to try, most specific first, for error that starts at layer `start`.
fn advice(a: &Agreement, m: &FloatMlp, q: &Quantized, start: usize) -> Vec<String> {
    let mut tips = Vec::new();
    let name = &a.layers[start].name;
    if let Some(ratio) = m.layers.get(start).and_then(|l| outlier_ratio(&l.weight)) {
        if ratio >= OUTLIER_RATIO {
            tips.push(format!(
                "check the input normalization: {name}'s largest weight is {ratio:.0}× its median \
                 (a feature divided by a spread near zero, such as a normalization layer adapted \
                 on pixels that never vary), so every other weight rounds to a few steps"
            ));
        }
    }
    let kind = q.layers[start].data.weights.kind;
    if kind != WeightKind::Int8 {
        tips.push(format!(
            "int8 weights instead of {} (`--weights int8`)",
            kind.name()
        ));
    }
    if q.layers.iter().any(|l| !l.is_pool() && l.acc == Elem::I16) {
        tips.push("32-bit accumulators (`--accumulator 32`)".into());
    }
    tips.push("16-bit activations (`--activations 16`)".into());
    if a.samples < FEW_SAMPLES {
        tips.push(format!(
            "more calibration data ({} samples here)",
            a.samples
        ));
    }
    // With int8 weights an error that starts at the first layer points at its inputs.
    if start == 0 && kind == WeightKind::Int8 && tips.iter().all(|t| !t.starts_with("check")) {
        tips.push(
            "check the input normalization: the calibration data must be what the model takes \
             (the same scaling as in training)"
                .into(),
        );
    }
    tips
}

/// The largest weight magnitude over the median magnitude of the non-zero
/// ones; `None` for a layer without non-zero weights.
fn outlier_ratio(w: &[Vec<f32>]) -> Option<f64> {
    let mut mags: Vec<f64> = w
        .iter()
        .flatten()
        .map(|&v| f64::from(v.abs()))
        .filter(|&v| v > 0.0 && v.is_finite())
        .collect();
    if mags.is_empty() {
        return None;
    }
    mags.sort_by(f64::total_cmp);
    Some(mags[mags.len() - 1] / mags[mags.len() / 2])
}

/// `x` as a percentage with two decimals (more for tiny figures).
fn percent(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return "∞".into();
    }
    let p = 100.0 * x;
    if p != 0.0 && p < 0.01 {
        format!("{p:.1e} %")
    } else {
        format!("{p:.2} %")
    }
}

/// `x` with four significant digits.
pub fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (3 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_errors(errs: &[f64], same: usize) -> Agreement {
        Agreement {
            samples: 100,
            same_class: Some(same),
            correct: None,
            output_mae: 0.0,
            layers: errs
                .iter()
                .enumerate()
                .map(|(i, &e)| LayerError {
                    name: crate::quant::float_spec::layer_name(i),
                    relative_rms: e,
                })
                .collect(),
        }
    }

    #[test]
    fn the_error_starts_where_it_first_reaches_half_the_largest() {
        assert_eq!(with_errors(&[0.9, 0.95, 1.0], 20).error_start(), Some(0));
        assert_eq!(with_errors(&[0.01, 0.6, 0.5], 20).error_start(), Some(1));
        assert_eq!(with_errors(&[0.01, 0.02, 0.3], 20).error_start(), Some(2));
        assert_eq!(with_errors(&[0.0, 0.0], 100).error_start(), None);
    }

    #[test]
    fn low_means_under_97_percent() {
        assert!(!with_errors(&[0.1], 97).is_low());
        assert!(with_errors(&[0.1], 96).is_low());
        let mut values = with_errors(&[0.1], 0);
        values.same_class = None;
        assert!(!values.is_low(), "values models have no class agreement");
    }

    #[test]
    fn outliers_are_measured_against_the_median_weight() {
        let w = vec![vec![1.0, -2.0, 0.0], vec![5e6, 1.5, 1.0]];
        assert_eq!(outlier_ratio(&w), Some(5e6 / 1.5));
        assert_eq!(outlier_ratio(&[vec![0.0]]), None);
    }

    #[test]
    fn figures_keep_their_small_digits() {
        assert_eq!(percent(0.0123), "1.23 %");
        assert_eq!(percent(1e-6), "1.0e-4 %");
        assert_eq!(significant(0.012345), "0.01235");
        assert_eq!(significant(123.456), "123.5");
    }
}
