//! Calibrated post-training quantization of a float MLP.
//!
//! Per layer, in order, on the inputs the integer model itself gives that
//! layer: a weight scale chosen over a grid of clipping points by the output
//! error under the inputs' covariance (for ternary, int2 and binary that grid
//! *is* the threshold search), adaptive rounding on the same error, a bias
//! (with bias correction) in accumulator units of that layer's input scale
//! times its weight scale, and the smallest power-of-two shift that keeps the
//! calibrated pre-activations inside the activation budget — larger where the
//! range analysis finds an input in the declared range that would make the
//! activations wrap. The integer epilogue is `(acc + b) >> shift`,
//! activations are int16.
//!
//! Inputs and hidden activations with a lower bound may be planned in
//! 0..=255 (through a zero point where they can be negative, which the next
//! layer's bias takes back out; see `epilogue.rs` for the activations):
//! the AVR and Z80 kernels multiply such inputs by their low byte alone,
//! while any other value costs a second pass over the layer. `auto` keeps
//! that plan wherever the calibration data's answers hold
//! ([`disagreement`]).

use zlmc_ir::{Activation, DenseWeights, Elem, InputQuant, WeightKind};

use crate::frontend::layers::avg_divisor;
use crate::frontend::quantize::{AvgDivisor, LayerData, LayerKind};
use crate::quant::float_model::{
    FloatActivation, FloatDivisor, FloatLayer, FloatLayerKind, FloatMlp, FloatOutput,
};

use super::maps;

use super::dataset::Dataset;
use super::epilogue::{self, Target, VALUES_BUDGET};

/// Largest activation magnitude the quantizer aims for (int16 holds 8× more,
/// headroom for inputs beyond the calibration data).
pub const ACT_BUDGET: f64 = 4096.0;

/// How much of the inputs' off-diagonal covariance is dropped when weights
/// are chosen (few calibration samples make the full covariance overconfident).
const COV_SHRINK: f64 = 0.5;

/// Largest `rows · cols²` for which weights are chosen under the inputs' full
/// covariance rather than their variances.
const FULL_COV_LIMIT: usize = 1 << 22;

/// Largest calibrated accumulator a 16-bit layer may reach (2× headroom).
const ACC16_BUDGET: f64 = 16384.0;

/// How the accumulator width is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccChoice {
    /// 16 bits everywhere; inputs get coarser where calibration needs it.
    Bits16,
    /// 32 bits everywhere.
    Bits32,
    /// 16 bits where static range analysis proves overflow impossible, else 32.
    Auto,
}

/// How wide inputs and hidden activations are planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActChoice {
    /// In 0..=255 wherever a lower bound allows (the input and clips through a
    /// zero point, ReLU, tables): the AVR and Z80 kernels' fast path.
    Bits8,
    /// Up to ±[`ACT_BUDGET`]: finer, but every layer takes the kernels' second pass.
    Bits16,
    /// 8 bits wherever calibration says the agreement with float holds.
    Auto,
}

/// Largest input or hidden activation an 8-bit plan aims for: the AVR and
/// Z80 kernels multiply inputs in 0..=255 by their low byte alone, and any
/// other input (negative, or above 255) costs a second pass over the layer.
pub const NARROW_BUDGET: f64 = 255.0;

/// Calibration samples (as a fraction) an 8-bit plan may answer differently
/// from the float model on top of what the 16-bit plan does, under `auto`.
pub const AUTO_TOLERANCE: f64 = 0.005;

/// How calibration ranges are taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeMethod {
    /// The largest calibrated magnitude.
    MinMax,
    /// This percentile (0..100) of the calibrated magnitudes; the rest is clamped.
    Percentile(f64),
}

/// Quantization settings.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Weight kind.
    pub kind: WeightKind,
    /// Accumulator width.
    pub acc: AccChoice,
    /// Range statistic for inputs and activations.
    pub range: RangeMethod,
    /// Width of inputs and hidden activations.
    pub activations: ActChoice,
}

/// What quantizing one layer cost.
#[derive(Debug, Clone, Default)]
pub struct LayerReport {
    /// Layer name.
    pub name: String,
    /// Float value of one weight step.
    pub weight_scale: f64,
    /// Weights whose rounded value was clipped to the kind's range.
    pub clipped_weights: usize,
    /// Biases clamped to the accumulator.
    pub clamped_biases: usize,
    /// Calibration values (inputs clamped to the declared range, for the first
    /// layer; accumulators or activations out of range) that do not fit.
    pub clamped: usize,
    /// Calibration values looked at.
    pub values: usize,
}

impl LayerReport {
    /// Clamped calibration values, as a fraction.
    pub fn clamp_rate(&self) -> f64 {
        if self.values == 0 {
            0.0
        } else {
            self.clamped as f64 / self.values as f64
        }
    }
}

/// One integer layer.
#[derive(Debug, Clone)]
pub struct QLayer {
    /// What it computes.
    pub kind: LayerKind,
    /// The integer parameters.
    pub data: LayerData,
    /// Accumulator width.
    pub acc: Elem,
    /// Float value of one step of the layer's outputs.
    pub scale: f64,
    /// The output that stands for 0.0 (not 0 only after a table).
    pub zero_point: i64,
    /// Per output channel, the float value of one step, where the channels
    /// differ (a convolution quantized per channel, and the pools after it);
    /// `scale` is then their mean.
    pub channel_scales: Option<Vec<f64>>,
    /// The float weights in integer units before rounding (empty for pools
    /// and trained layers): where fine-tuning starts its latent weights.
    pub unrounded: Vec<f32>,
}

/// An integer model quantized from a float one.
#[derive(Debug, Clone)]
pub struct Quantized {
    /// Model name.
    pub name: String,
    /// How float features become int16 inputs.
    pub input: InputQuant,
    /// Float value of one step of the last layer's outputs.
    pub output_scale: f64,
    /// The last layer's output that stands for 0.0.
    pub output_zero_point: i32,
    /// What the last layer's outputs are: class scores or values.
    pub output: FloatOutput,
    /// Per layer, whether its inputs were planned in 0..=255 (see [`ActChoice`]).
    pub narrow: Vec<bool>,
    /// The layers.
    pub layers: Vec<QLayer>,
    /// Class labels.
    pub labels: Vec<String>,
    /// Per-layer costs.
    pub report: Vec<LayerReport>,
}

impl QLayer {
    /// Whether it is a pool (no weights, no accumulator of its own).
    pub fn is_pool(&self) -> bool {
        self.kind.is_pool()
    }

    /// Flat input length.
    pub fn inputs(&self) -> usize {
        match self.kind {
            LayerKind::Dense => self.data.weights.cols,
            LayerKind::Conv { input, .. }
            | LayerKind::MaxPool { input, .. }
            | LayerKind::AvgPool { input, .. } => input.len(),
        }
    }

    /// Flat output length.
    pub fn outputs(&self) -> usize {
        match self.kind {
            LayerKind::Dense => self.data.weights.rows,
            LayerKind::Conv { input, window, .. } => {
                maps::output(input, window, self.data.weights.rows).len()
            }
            LayerKind::MaxPool { input, window } | LayerKind::AvgPool { input, window, .. } => {
                maps::output(input, window, input.channels).len()
            }
        }
    }
}

impl Quantized {
    /// The model's input length.
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, QLayer::inputs)
    }

    /// The model's output length.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, QLayer::outputs)
    }

    /// Indices of the layers with weights (dense and convolutions), in order:
    /// what the range analysis reports on.
    pub fn weighted(&self) -> Vec<usize> {
        (0..self.layers.len())
            .filter(|&l| !self.layers[l].is_pool())
            .collect()
    }
}

/// The `p`-th percentile (0..100) of `v`'s magnitudes; `MinMax` gives the largest.
fn magnitude(v: impl Iterator<Item = f64>, how: RangeMethod) -> f64 {
    let mut m: Vec<f64> = v.map(f64::abs).filter(|x| x.is_finite()).collect();
    if m.is_empty() {
        return 0.0;
    }
    match how {
        RangeMethod::MinMax => m.iter().copied().fold(0.0, f64::max),
        RangeMethod::Percentile(p) => {
            m.sort_by(f64::total_cmp);
            let i = ((p / 100.0 * m.len() as f64).ceil() as usize).clamp(1, m.len()) - 1;
            m[i]
        }
    }
}

/// Round `x` to a weight of `kind`.
fn round_weight(x: f64, kind: WeightKind) -> i8 {
    if kind == WeightKind::Binary {
        return if x < 0.0 { -1 } else { 1 };
    }
    let (lo, hi) = kind.range();
    x.round().clamp(lo as f64, hi as f64) as i8
}

/// The integer weights of `w` (`cols` per row) and their scale: least
/// squared output error over a grid of clipping points, the dequantization
/// scale fitted per candidate. The error of a row's weight error `e` is
/// `eᵀ C e`, with `C` (`cov`, `cols × cols`, row-major) the covariance of
/// the layer's inputs on the calibration data: the mean part of the error is
/// what bias correction puts back, and correlated inputs (neighbouring pixels
/// behind a folded scaler) are counted together, so a huge weight on an input
/// that barely varies may be clipped to keep resolution for the weights that
/// matter. An empty `cov` counts every input alike.
pub fn quantize_weights(w: &[f64], cols: usize, cov: &[f64], kind: WeightKind) -> (Vec<i8>, f64) {
    let max = w.iter().copied().map(f64::abs).fold(0.0, f64::max);
    if max == 0.0 || cols == 0 {
        let q = vec![round_weight(0.0, kind); w.len()];
        return (q, 1.0);
    }
    let full = cov.len() == cols * cols && cols > 1;
    let diag = cov.len() == cols && !full;
    // `aᵀ C b` for one row.
    let form = |a: &[f64], b: &[f64]| -> f64 {
        if diag {
            return a.iter().zip(b).zip(cov).map(|((x, y), d)| x * y * d).sum();
        }
        if !full {
            return a.iter().zip(b).map(|(x, y)| x * y).sum();
        }
        let mut s = 0.0;
        for (j, &x) in a.iter().enumerate() {
            if x == 0.0 {
                continue;
            }
            let row = &cov[j * cols..(j + 1) * cols];
            s += x * row.iter().zip(b).map(|(c, y)| c * y).sum::<f64>();
        }
        s
    };
    let top = kind.range().1.max(1) as f64;
    let mut best: Option<(f64, Vec<i8>, f64)> = None;
    // Clipping points from max/40000 to max, denser at the small end.
    for step in 1..=200 {
        let s = max * (step as f64 / 200.0).powi(2) / top;
        let q: Vec<i8> = w.iter().map(|&x| round_weight(x / s, kind)).collect();
        let (mut num, mut den) = (0.0, 0.0);
        for (wr, qr) in w.chunks(cols).zip(q.chunks(cols)) {
            let qf: Vec<f64> = qr.iter().map(|&v| f64::from(v)).collect();
            num += form(wr, &qf);
            den += form(&qf, &qf);
        }
        if den <= 0.0 || num <= 0.0 {
            continue;
        }
        // With the fitted α = num / den the error is `Σ wᵀCw − num² / den`;
        // the constant part does not change the choice.
        let err = -num * num / den;
        if best.as_ref().is_none_or(|b| err < b.0) {
            best = Some((err, q, num / den));
        }
    }
    match best {
        Some((_, mut q, a)) if (full || diag) && kind != WeightKind::Binary => {
            refine_rounding(w, cols, cov, kind, &mut q, a);
            // Refit the scale to the refined weights (least squares again).
            let (mut num, mut den) = (0.0, 0.0);
            for (wr, qr) in w.chunks(cols).zip(q.chunks(cols)) {
                let qf: Vec<f64> = qr.iter().map(|&v| f64::from(v)).collect();
                num += form(wr, &qf);
                den += form(&qf, &qf);
            }
            let a = if den > 0.0 && num > 0.0 { num / den } else { a };
            (q, a)
        }
        Some((_, q, a)) => (q, a),
        None => (w.iter().map(|&x| round_weight(x, kind)).collect(), 1.0),
    }
}

/// Round each weight up or down, not only to nearest: per row, coordinate
/// descent on `eᵀ C e` (`e = w − α q`), moving one weight by one step at a
/// time while that lowers the error, a few passes at most. `cov` is the full
/// `cols × cols` matrix or only its diagonal.
fn refine_rounding(
    w: &[f64],
    cols: usize,
    cov: &[f64],
    kind: WeightKind,
    q: &mut [i8],
    alpha: f64,
) {
    let (lo, hi) = kind.range();
    for (wr, qr) in w.chunks(cols).zip(q.chunks_mut(cols)) {
        let e: Vec<f64> = wr
            .iter()
            .zip(qr.iter())
            .map(|(&x, &v)| x - alpha * f64::from(v))
            .collect();
        // ce = C e
        let full = cov.len() == cols * cols && cols > 1;
        let mut ce: Vec<f64> = (0..cols)
            .map(|i| {
                if full {
                    cov[i * cols..(i + 1) * cols]
                        .iter()
                        .zip(&e)
                        .map(|(c, x)| c * x)
                        .sum()
                } else {
                    cov[i] * e[i]
                }
            })
            .collect();
        for _ in 0..8 {
            let mut changed = false;
            for j in 0..cols {
                // A weight that is zero in float (sparsified, or reading a
                // constant input) stays zero: the sparsity was asked for.
                if wr[j] == 0.0 {
                    continue;
                }
                let cjj = if full { cov[j * cols + j] } else { cov[j] };
                for d in [-1i32, 1] {
                    let nv = i32::from(qr[j]) + d;
                    if nv < i32::from(lo) || nv > i32::from(hi) {
                        continue;
                    }
                    let step = alpha * f64::from(d);
                    // e' = e − step·u_j: Δ = −2·step·(Ce)_j + step²·C_jj
                    let delta = -2.0 * step * ce[j] + step * step * cjj;
                    if delta < -1e-12 * (1.0 + ce[j].abs() * step.abs()) {
                        qr[j] = nv as i8;
                        if full {
                            for (i, c) in ce.iter_mut().enumerate() {
                                *c -= step * cov[i * cols + j];
                            }
                        } else {
                            ce[j] -= step * cov[j];
                        }
                        changed = true;
                        break;
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }
}

/// The mean of every layer's inputs in the float model over the calibration
/// data.
fn input_importance(m: &FloatMlp, data: &Dataset, pre: &[Vec<Vec<f64>>]) -> Vec<Vec<f64>> {
    let n = data.x.len().max(1) as f64;
    let mut means = Vec::new();
    for (l, layer) in m.layers.iter().enumerate() {
        let mut mean = vec![0.0; layer.inputs()];
        for (k, x) in data.x.iter().enumerate() {
            for (j, a) in mean.iter_mut().enumerate() {
                *a += if l == 0 {
                    x[j] as f64
                } else {
                    m.layers[l - 1].activation.apply(pre[l - 1][k][j] as f32) as f64
                };
            }
        }
        for a in &mut mean {
            *a /= n;
        }
        means.push(mean);
    }
    means
}

/// Mean and covariance (`cols × cols`, row-major, off-diagonal shrunk by
/// [`COV_SHRINK`]) of the rows `xs`; with `full` false only the variances.
fn moments(xs: &[Vec<f64>], c: usize, full: bool) -> (Vec<f64>, Vec<f64>) {
    let n = xs.len().max(1) as f64;
    let mut mean = vec![0.0; c];
    for x in xs {
        for (a, &v) in mean.iter_mut().zip(x) {
            *a += v;
        }
    }
    for a in &mut mean {
        *a /= n;
    }
    if !full {
        let mut var = vec![0.0; c];
        for x in xs {
            for (j, v) in var.iter_mut().enumerate() {
                *v += (x[j] - mean[j]).powi(2);
            }
        }
        for v in &mut var {
            *v /= n;
        }
        return (mean, var);
    }
    let mut cov = vec![0.0; c * c];
    let mut v = vec![0.0; c];
    for x in xs {
        for (j, d) in v.iter_mut().enumerate() {
            *d = x[j] - mean[j];
        }
        for (i, &a) in v.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            for (cij, &b) in cov[i * c..(i + 1) * c].iter_mut().zip(&v) {
                *cij += a * b;
            }
        }
    }
    // Shrink the off-diagonal part towards 0: with few samples the
    // covariance is rank-deficient and would make whole directions free.
    let lambda = COV_SHRINK;
    for i in 0..c {
        for j in 0..c {
            cov[i * c + j] /= n;
            if i != j {
                cov[i * c + j] *= 1.0 - lambda;
            }
        }
    }
    (mean, cov)
}

/// Pre-activations of every layer for every calibration sample, in f64.
fn float_pre_activations(m: &FloatMlp, data: &Dataset) -> Vec<Vec<Vec<f64>>> {
    let mut per_layer = vec![Vec::new(); m.layers.len()];
    for x in &data.x {
        let mut v: Vec<f64> = x.iter().map(|&a| a as f64).collect();
        for (l, layer) in m.layers.iter().enumerate() {
            let pre: Vec<f64> = match layer.kind {
                FloatLayerKind::Dense => layer
                    .weight
                    .iter()
                    .zip(&layer.bias)
                    .map(|(row, &b)| {
                        row.iter()
                            .zip(&v)
                            .fold(b as f64, |s, (&w, &a)| s + w as f64 * a)
                    })
                    .collect(),
                _ => {
                    let x: Vec<f32> = v.iter().map(|&a| a as f32).collect();
                    layer.sums(&x).into_iter().map(f64::from).collect()
                }
            };
            v = pre
                .iter()
                .map(|&p| layer.activation.apply(p as f32) as f64)
                .collect();
            per_layer[l].push(pre);
        }
    }
    per_layer
}

/// What every plan of a model shares: the float model's pre-activations and
/// its layers' mean inputs on the calibration data.
struct Prepared {
    pre: Vec<Vec<Vec<f64>>>,
    importance: Vec<Vec<f64>>,
}

/// Quantize `m` with calibration data `data`.
pub fn quantize(m: &FloatMlp, data: &Dataset, opts: Options) -> Quantized {
    let pre = float_pre_activations(m, data);
    let importance = input_importance(m, data, &pre);
    let prep = Prepared { pre, importance };
    let narrowable = narrowable(m, data);
    match opts.activations {
        ActChoice::Bits16 => quantize_planned(m, data, opts, &prep, &vec![false; m.layers.len()]),
        ActChoice::Bits8 => quantize_planned(m, data, opts, &prep, &narrowable),
        ActChoice::Auto => auto_plan(m, data, opts, &prep, narrowable),
    }
}

/// Per layer, whether its inputs can be planned in 0..=255: the model's
/// input always (a zero point shifts it there), a hidden layer's when the
/// activation before it is bounded below or a table. Pools never choose:
/// they pass their input's plan on (see [`tie_pools`]). A padded
/// convolution or average pool reads its padding as integer 0, so its
/// input may take a zero point only where that zero point is 0: an input
/// without negative values, or an activation without negative outputs.
fn narrowable(m: &FloatMlp, data: &Dataset) -> Vec<bool> {
    let no_negative_input = data.x.iter().flatten().all(|&v| v >= 0.0);
    let mut producer: Option<FloatActivation> = None;
    let mut padded_since = false;
    let mut out = Vec::with_capacity(m.layers.len());
    for layer in &m.layers {
        padded_since |= layer.reads_padding();
        if layer.is_pool() {
            out.push(false);
            continue;
        }
        let bounded = producer.is_none_or(epilogue::narrowable);
        let zero_at_zero = match producer {
            None => no_negative_input,
            Some(a) => non_negative(a),
        };
        out.push(bounded && (!padded_since || zero_at_zero));
        producer = Some(layer.activation);
        padded_since = false;
    }
    out
}

/// Whether `a` gives no negative values (so an 8-bit plan of its outputs has zero point 0).
fn non_negative(a: FloatActivation) -> bool {
    match a {
        FloatActivation::Relu | FloatActivation::Sigmoid | FloatActivation::HardSigmoid { .. } => {
            true
        }
        FloatActivation::Clip { min, .. } => min >= 0.0,
        _ => false,
    }
}

/// `narrow` with every pool's entry set to that of the next layer with
/// weights (false at the end): a pool's output is its input, so what the
/// layer after it takes is what the layer before it gives.
fn tie_pools(m: &FloatMlp, narrow: &[bool]) -> Vec<bool> {
    let mut out = narrow.to_vec();
    let mut next = false;
    for l in (0..m.layers.len()).rev() {
        if m.layers[l].is_pool() {
            out[l] = next;
        } else {
            next = out[l];
        }
    }
    out
}

/// The next layer with weights after `l` (`m.layers.len()` when none).
fn consumer(m: &FloatMlp, l: usize) -> usize {
    (l + 1..m.layers.len())
        .find(|&k| !m.layers[k].is_pool())
        .unwrap_or(m.layers.len())
}

/// `auto`: the 8-bit plan where `narrowable` allows, unless it answers the
/// calibration data worse than the 16-bit plan by more than
/// [`AUTO_TOLERANCE`]; then, one at a time, the layer input whose widening
/// helps most goes back to 16 bits until the plan is within it.
fn auto_plan(
    m: &FloatMlp,
    data: &Dataset,
    opts: Options,
    prep: &Prepared,
    mut plan: Vec<bool>,
) -> Quantized {
    let wide = quantize_planned(m, data, opts, prep, &vec![false; m.layers.len()]);
    let reference = disagreement(m, &wide, data);
    let mut q = quantize_planned(m, data, opts, prep, &plan);
    while disagreement(m, &q, data) > reference + AUTO_TOLERANCE {
        let best = (0..plan.len())
            .filter(|&i| plan[i])
            .map(|i| {
                let mut p = plan.clone();
                p[i] = false;
                let q = quantize_planned(m, data, opts, prep, &p);
                (disagreement(m, &q, data), p, q)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((_, p, next)) => {
                plan = p;
                q = next;
            }
            None => return wide,
        }
    }
    q
}

/// How far `q` is from `m` on the calibration data: for classes, the share
/// of samples whose class differs; for values, the mean absolute error over
/// the mean absolute deviation of the float values.
pub fn disagreement(m: &FloatMlp, q: &Quantized, data: &Dataset) -> f64 {
    if data.x.is_empty() {
        return 0.0;
    }
    let float: Vec<Vec<f32>> = data.x.iter().map(|x| m.eval(x)).collect();
    let ints: Vec<Vec<i64>> = data.x.iter().map(|x| forward(q, x)).collect();
    match m.output {
        FloatOutput::Classes => {
            let differ = float
                .iter()
                .zip(&ints)
                .filter(|(f, i)| {
                    first_max(f.iter().map(|&v| f64::from(v)))
                        != first_max(i.iter().map(|&v| v as f64))
                })
                .count();
            differ as f64 / data.x.len() as f64
        }
        FloatOutput::Values => {
            let (s, zp) = (q.output_scale, i64::from(q.output_zero_point));
            let n = float.iter().map(Vec::len).sum::<usize>().max(1) as f64;
            let mean = float.iter().flatten().map(|&v| f64::from(v)).sum::<f64>() / n;
            let spread = float
                .iter()
                .flatten()
                .map(|&v| (f64::from(v) - mean).abs())
                .sum::<f64>()
                / n;
            let err = float
                .iter()
                .flatten()
                .zip(ints.iter().flatten())
                .map(|(&f, &i)| (f64::from(f) - s * (i - zp) as f64).abs())
                .sum::<f64>()
                / n;
            if spread > 0.0 {
                err / spread
            } else {
                err
            }
        }
    }
}

/// The first index of the largest value.
fn first_max(v: impl Iterator<Item = f64>) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for (i, x) in v.enumerate() {
        if best.is_none_or(|b| x > b.1) {
            best = Some((i, x));
        }
    }
    best.map_or(0, |b| b.0)
}

/// The integer model's last layer on float features `x`, as the
/// interpreter computes it (accumulators wrap to their width, the shifted
/// sum to int16, then the activation).
pub fn forward(q: &Quantized, x: &[f32]) -> Vec<i64> {
    let mut v: Vec<i64> = x
        .iter()
        .map(|&f| i64::from(q.input.quantize(f64::from(f))))
        .collect();
    for l in &q.layers {
        v = layer_forward(&l.kind, &l.data, l.acc, &v);
    }
    v
}

/// What a layer computes before it wraps: `Σ W·x + b` of a dense layer or
/// convolution (its channel's bias on every element of a map), or a pool's
/// values before its activation (an average pool's already shifted).
fn layer_sums(kind: &LayerKind, d: &LayerData, x: &[i64]) -> Vec<i64> {
    match *kind {
        LayerKind::Dense => (0..d.weights.rows)
            .map(|r| {
                let s: i64 = d
                    .weights
                    .row(r)
                    .iter()
                    .zip(x)
                    .map(|(&w, &a)| i64::from(w) * a)
                    .sum();
                s + d.bias[r]
            })
            .collect(),
        LayerKind::Conv {
            input,
            window,
            groups,
        } => maps::conv_sums(x, input, window, groups, &d.weights, &d.bias),
        LayerKind::MaxPool { input, window } => maps::max_pool(x, input, window),
        LayerKind::AvgPool {
            input,
            window,
            divisor: AvgDivisor { mul, shift },
        } => maps::sum_pool(x, input, window)
            .into_iter()
            .map(|s| (s * i64::from(mul)) >> shift)
            .collect(),
    }
}

/// One integer layer on `x`, as the interpreter computes it.
fn layer_forward(kind: &LayerKind, d: &LayerData, acc: Elem, x: &[i64]) -> Vec<i64> {
    let sums = layer_sums(kind, d, x);
    match kind {
        LayerKind::MaxPool { .. } | LayerKind::AvgPool { .. } => sums
            .into_iter()
            .map(|v| {
                let v = Elem::I16.wrap(v);
                d.activation
                    .as_ref()
                    .map_or(v, |a| i64::from(a.apply(v as i16)))
            })
            .collect(),
        _ => sums
            .into_iter()
            .map(|s| zlmc_ir::interp::epilogue(acc.wrap(s), d.shift, d.activation.as_ref()))
            .collect(),
    }
}

/// Quantize `m` with the layer inputs `narrow` names planned in 0..=255.
fn quantize_planned(
    m: &FloatMlp,
    data: &Dataset,
    opts: Options,
    prep: &Prepared,
    narrow: &[bool],
) -> Quantized {
    let narrow = &tie_pools(m, narrow);
    let feats = || data.x.iter().flatten().map(|&v| v as f64);
    let (lo, hi) = match opts.range {
        RangeMethod::MinMax => (
            feats().fold(f64::INFINITY, f64::min),
            feats().fold(f64::NEG_INFINITY, f64::max),
        ),
        RangeMethod::Percentile(_) => {
            let mag = magnitude(feats(), opts.range);
            let (mn, mx) = (
                feats().fold(f64::INFINITY, f64::min),
                feats().fold(f64::NEG_INFINITY, f64::max),
            );
            (mn.max(-mag), mx.min(mag))
        }
    };
    let base = if narrow.first() == Some(&true) {
        narrow_input(lo, hi)
    } else {
        let in_mag = lo.abs().max(hi.abs());
        InputQuant {
            scale: if in_mag > 0.0 {
                in_mag / ACT_BUDGET
            } else {
                1.0
            },
            zero_point: 0,
            range: Some((lo, hi)),
        }
    };
    // Extra right shifts in front of each layer (input scale for the first)
    // and, last, on the output: raised until every 16-bit layer's calibrated
    // accumulator fits and no activation can wrap (see [`wrapping_layer`]).
    let mut extra = vec![0u32; m.layers.len() + 1];
    let accs: Vec<Elem> = m
        .layers
        .iter()
        .map(|_| match opts.acc {
            AccChoice::Bits16 => Elem::I16,
            _ => Elem::I32,
        })
        .collect();
    let plan = Plan {
        base,
        narrow,
        accs: &accs,
    };
    // `checked`: refuse a layout that clamps (say which layer needs more bits).
    let attempt = |extra: &[u32], checked: bool| build(m, data, prep, opts, &plan, extra, checked);
    for _ in 0..32 {
        match attempt(&extra, true) {
            Ok(q) => match wrapping_layer(&q) {
                Some((layer, bits)) => extra[layer + 1] += bits,
                None => return finish(q, m, data),
            },
            Err((layer, bits)) => {
                extra[layer] += bits;
            }
        }
    }
    // Could not fit: keep the last attempt's layout, clamping counted.
    let q = attempt(&extra, false).unwrap_or_else(|_| unreachable!("unchecked builds do not fail"));
    finish(q, m, data)
}

/// The input quantization that takes the calibrated range `[lo, hi]` (with
/// 0 in it, so that zero stays exact) onto 0..=255.
fn narrow_input(lo: f64, hi: f64) -> InputQuant {
    let (a, b) = (lo.min(0.0), hi.max(0.0));
    let mut q = InputQuant {
        scale: 1.0,
        zero_point: 0,
        range: Some((lo, hi)),
    };
    if b > a {
        for steps in [NARROW_BUDGET, NARROW_BUDGET - 1.0] {
            q.scale = (b - a) / steps;
            q.zero_point = (-a / q.scale).round() as i32;
            // Both ends rounding outwards can take the top to 256.
            if i64::from(q.quantize(b)) <= NARROW_BUDGET as i64 {
                break;
            }
        }
    }
    q
}

/// What a build is asked for: the input quantization before any extra
/// shift, which layer inputs are 8-bit, and the accumulators.
struct Plan<'a> {
    base: InputQuant,
    narrow: &'a [bool],
    accs: &'a [Elem],
}

/// The first layer whose activations can wrap in int16 for some input in the
/// declared range, by the range analysis `build` and `run` warn with, and the
/// extra shift that keeps them in int16; `None` when none can, or when the
/// layer's shift cannot grow. Calibration alone would miss this: the digits
/// import shifted for the data (activations up to 4096) while an input of
/// the declared range, pixels 0 or 16, takes its second layer to 35223.
fn wrapping_layer(q: &Quantized) -> Option<(usize, u32)> {
    let bounds = crate::range::analyze(&super::write::to_model(q))?;
    let (l, b) = bounds
        .iter()
        .enumerate()
        .find(|(_, b)| b.out_bound > i64::from(i16::MAX))?;
    let l = *q.weighted().get(l)?;
    let layer = &q.layers[l];
    let room = (layer.acc.bits() - 1).saturating_sub(layer.data.shift);
    let need = (b.out_bound as f64 / f64::from(i16::MAX))
        .log2()
        .ceil()
        .max(1.0) as u32;
    (room > 0).then_some((l, need.min(room)))
}

type Attempt = std::result::Result<Quantized, (usize, u32)>;

/// Patches of one convolution input gathered for calibration at most (a
/// stride over samples and positions keeps the moments cheap).
const MAX_PATCHES: usize = 50_000;

/// What one layer's weights read, dequantized, as rows of a dense layer's
/// inputs, with the float model's mean of each column and the integer
/// model's (per group of a convolution; one group for a dense layer).
struct Columns {
    /// Rows for the moments (pooled over groups).
    rows: Vec<Vec<f64>>,
    /// Per group: the float model's mean of every column.
    float_means: Vec<Vec<f64>>,
    /// Per group: the integer model's (dequantized) mean of every column
    /// (empty for a dense layer: the moments' mean is it).
    int_means: Vec<Vec<f64>>,
}

/// The columns layer `fl` reads: its inputs `xhat` (dequantized integer
/// inputs, one row per sample) and `means` (the float inputs' means).
fn columns(fl: &FloatLayer, xhat: Vec<Vec<f64>>, means: &[f64]) -> Columns {
    let FloatLayerKind::Conv {
        input,
        window,
        groups,
    } = fl.kind
    else {
        return Columns {
            rows: xhat,
            float_means: vec![means.to_vec()],
            int_means: Vec::new(),
        };
    };
    let average = |p: &[Vec<f64>]| -> Vec<f64> {
        let n = p.len().max(1) as f64;
        let mut m = vec![0.0; p.first().map_or(0, Vec::len)];
        for r in p {
            for (a, &v) in m.iter_mut().zip(r) {
                *a += v / n;
            }
        }
        m
    };
    // Patches are linear in the map: the float means' patches, averaged over
    // positions, are the columns' float means.
    let float_means = maps::patches(means, input, window, groups)
        .iter()
        .map(|g| average(g))
        .collect();
    let positions = maps::output(input, window, 1).len();
    let step = (xhat.len() * positions * groups)
        .div_ceil(MAX_PATCHES)
        .max(1);
    let mut per_group: Vec<Vec<Vec<f64>>> = vec![Vec::new(); groups];
    let mut k = 0usize;
    for x in &xhat {
        for (g, ps) in maps::patches(x, input, window, groups)
            .into_iter()
            .enumerate()
        {
            for p in ps {
                if k.is_multiple_of(step) {
                    per_group[g].push(p);
                }
                k += 1;
            }
        }
    }
    let int_means = per_group.iter().map(|g| average(g)).collect();
    Columns {
        rows: per_group.into_iter().flatten().collect(),
        float_means,
        int_means,
    }
}

/// The integer activation after a pool whose input (and output) has scale
/// `scale` and zero point `zp`: ReLU is a clamp at the zero point, a clip
/// its bounds in that scale; others have no form here (refused before).
fn pool_activation(a: FloatActivation, scale: f64, zp: i64) -> Option<Activation> {
    let at = |v: f64| ((v / scale).round() + zp as f64).clamp(-32768.0, 32767.0) as i16;
    match a {
        FloatActivation::Relu if zp == 0 => Some(Activation::Relu),
        FloatActivation::Relu => Some(Activation::Clamp {
            lo: zp.clamp(-32768, 32767) as i16,
            hi: i16::MAX,
        }),
        FloatActivation::Clip { min, max } => Some(Activation::Clamp {
            lo: at(f64::from(min)),
            hi: at(f64::from(max)),
        }),
        _ => None,
    }
}

/// Why a pool's float form has no integer one, if it has none.
pub fn unsupported_pool(l: &FloatLayer) -> Option<String> {
    if !l.is_pool() {
        return None;
    }
    if let FloatLayerKind::AvgPool {
        window,
        divisor: FloatDivisor { count_pad: false },
        ..
    } = l.kind
    {
        if window.pads.iter().any(|&p| p > 0) {
            return Some(
                "an average pool that leaves padding out of its divisor has no integer form \
                 (zlmc divides every window by the kernel's area; PyTorch's count_include_pad)"
                    .into(),
            );
        }
    }
    match l.activation {
        FloatActivation::None | FloatActivation::Relu | FloatActivation::Clip { .. } => None,
        a => Some(format!(
            "a pool's activation must be none, ReLU or a clip, not {a:?} (move it onto the layer before the pool)"
        )),
    }
}

fn build(
    m: &FloatMlp,
    data: &Dataset,
    prep: &Prepared,
    opts: Options,
    plan: &Plan,
    extra: &[u32],
    check: bool,
) -> Attempt {
    let (pre, importance) = (&prep.pre, &prep.importance);
    // The extra shifts asked for in front of `from..=` the next layer with
    // weights: a pool between takes its input's scale on.
    let extra_until = |from: usize| -> u32 {
        let to = if from == 0 {
            if m.layers.first().is_some_and(FloatLayer::is_pool) {
                consumer(m, 0)
            } else {
                0
            }
        } else {
            consumer(m, from - 1)
        };
        extra[from..=to.min(extra.len() - 1)].iter().sum()
    };
    let input = {
        let b = plan.base;
        let scale = b.scale * f64::from(1u32 << extra_until(0));
        InputQuant {
            scale,
            // The zero point stays where it stands for the same float value.
            zero_point: (f64::from(b.zero_point) * b.scale / scale).round() as i32,
            range: b.range,
        }
    };
    let mut s_in = input.scale;
    // What stands for 0.0 in each layer's inputs (the model's zero point, then 0).
    let mut zp_in = i64::from(input.zero_point);
    let mut v_int: Vec<Vec<i64>> = data
        .x
        .iter()
        .map(|x| {
            x.iter()
                .map(|&f| i64::from(input.quantize(f as f64)))
                .collect()
        })
        .collect();
    // Per channel, the scale of the map flowing in, where channels differ
    // (after a convolution quantized per channel); else `s_in` for all.
    let mut s_ch: Option<Vec<f64>> = None;
    let mut layers: Vec<QLayer> = Vec::new();
    let mut report = Vec::new();
    for (l, fl) in m.layers.iter().enumerate() {
        if fl.is_pool() {
            let mut layer = pool_layer(fl, opts.kind, s_in, zp_in);
            layer.channel_scales.clone_from(&s_ch);
            v_int = v_int
                .iter()
                .map(|x| layer_forward(&layer.kind, &layer.data, layer.acc, x))
                .collect();
            layers.push(layer);
            report.push(LayerReport {
                name: super::float_spec::float_layer_name(fl, l),
                ..LayerReport::default()
            });
            continue;
        }
        let flat: Vec<f64> = fl.weight.iter().flatten().map(|&w| w as f64).collect();
        // The inputs as the integer model sees them (dequantized), so each
        // layer's weights and bias correction account for the error before it.
        let xhat: Vec<Vec<f64>> = v_int
            .iter()
            .map(|r| r.iter().map(|&a| (a - zp_in) as f64 * s_in).collect())
            .collect();
        let cols = fl.weight.first().map_or(0, Vec::len);
        let rows = fl.weight.len();
        let per_group = rows / fl.groups();
        // What the weights multiply: the dequantized inputs under one scale,
        // or, where the input channels' scales differ, the integer inputs
        // themselves, each weight then taking its input channel's scale.
        let (wq, xin, unit) = match &s_ch {
            None => (flat.clone(), xhat, s_in),
            Some(sc) => {
                let scale_of = input_channel_scales(fl, sc);
                let wq = flat
                    .iter()
                    .enumerate()
                    .map(|(k, &w)| w * scale_of(k / cols, k % cols))
                    .collect();
                let xin = v_int
                    .iter()
                    .map(|r| r.iter().map(|&a| (a - zp_in) as f64).collect())
                    .collect();
                (wq, xin, 1.0)
            }
        };
        let c = columns(fl, xin, &importance[l]);
        // The full covariance costs `rows · cols²` per clipping point; big
        // layers take the variances only.
        let full = rows * cols * cols <= FULL_COV_LIMIT;
        let (mean, cov) = moments(&c.rows, cols, full);
        let int_means = if c.int_means.is_empty() {
            vec![mean]
        } else {
            c.int_means
        };
        let per_channel = per_channel_pays(m, l, &wq, cols);
        let (q, s_rows) = if per_channel {
            let mut q = Vec::with_capacity(wq.len());
            let mut s_rows = Vec::with_capacity(rows);
            for row in wq.chunks(cols) {
                let (qr, s) = quantize_weights(row, cols, &cov, opts.kind);
                q.extend(qr);
                s_rows.push(s);
            }
            (q, s_rows)
        } else {
            let (q, s_w) = quantize_weights(&wq, cols, &cov, opts.kind);
            (q, vec![s_w; rows])
        };
        // The layer's weight scale as reported: the channels' mean.
        let s_w = if per_channel {
            s_rows.iter().sum::<f64>() / rows.max(1) as f64
        } else {
            s_rows[0]
        };
        let top = opts.kind.range();
        let clipped = wq
            .iter()
            .enumerate()
            .filter(|&(k, &w)| {
                let r = (w / s_rows[k / cols]).round();
                r < top.0 as f64 || r > top.1 as f64
            })
            .count();
        // Float value of one accumulator step, per output channel.
        let s_accs: Vec<f64> = s_rows.iter().map(|&s| s * unit).collect();
        let s_acc = s_accs[0];
        let acc = plan.accs[l];
        let lim = (1i64 << (acc.bits() - 1)) as f64;
        let mut clamped_biases = 0;
        // Bias correction: what rounding the weights shifts each output by on
        // average over the calibration inputs goes back into the bias; the
        // inputs' zero point comes back out of it (a padded convolution's
        // input has zero point 0: see [`narrowable`]).
        let bias: Vec<i64> = fl
            .bias
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let row = &q[i * cols..(i + 1) * cols];
                let (means, qmean) = (&c.float_means[i / per_group], &int_means[i / per_group]);
                let s_w = s_rows[i];
                let corr: f64 = (0..cols)
                    .map(|j| flat[i * cols + j] * means[j] - s_w * row[j] as f64 * qmean[j])
                    .sum();
                let offset: i64 = row.iter().map(|&w| i64::from(w) * zp_in).sum();
                let r = ((b as f64 + corr) / s_accs[i]).round() - offset as f64;
                if r < -lim || r > lim - 1.0 {
                    clamped_biases += 1;
                }
                r.clamp(-lim, lim - 1.0) as i64
            })
            .collect();
        // Per channel, the calibrated pre-activations in accumulator steps
        // (one step for all channels unless quantized per channel).
        let (mag, lo, hi, s_acc) = if per_channel {
            let plane = pre[l].first().map_or(0, Vec::len) / rows;
            let of = |o: usize| {
                pre[l]
                    .iter()
                    .flat_map(move |p| p[o * plane..(o + 1) * plane].iter().copied())
            };
            let (mut mag, mut lo, mut hi) = (0.0f64, 0.0f64, 0.0f64);
            for (o, &sa) in s_accs.iter().enumerate() {
                mag = mag.max(magnitude(of(o), opts.range) / sa);
                hi = hi.max(magnitude(of(o).map(|v| v.max(0.0)), opts.range) / sa);
                lo = lo.min(-magnitude(of(o).map(|v| (-v).max(0.0)), opts.range) / sa);
            }
            (mag, lo, hi, 1.0)
        } else {
            let mag = magnitude(pre[l].iter().flatten().copied(), opts.range) / s_acc;
            let pre_l = || pre[l].iter().flatten().copied();
            let hi = magnitude(pre_l().map(|v| v.max(0.0)), opts.range);
            let lo = -magnitude(pre_l().map(|v| (-v).max(0.0)), opts.range);
            (mag, lo, hi, s_acc)
        };
        if check && acc == Elem::I16 && mag > ACC16_BUDGET {
            let need = (mag / ACC16_BUDGET).log2().ceil().max(1.0) as u32;
            return Err((l, need));
        }
        let target = if plan.narrow.get(l + 1) == Some(&true) {
            Target::Narrow
        } else if consumer(m, l) == m.layers.len() && m.output == FloatOutput::Values {
            Target::Wide(VALUES_BUDGET)
        } else {
            Target::Wide(ACT_BUDGET)
        };
        // The next layer's extra shift coarsens this layer's output.
        let next_extra = extra_until(l + 1);
        let e = epilogue::choose(
            fl.activation,
            (lo, hi),
            mag * s_acc,
            s_acc,
            acc,
            target,
            next_extra,
        );
        // Per channel, `e.scale` is in accumulator steps: each channel's is its own.
        s_ch = per_channel.then(|| s_accs.iter().map(|&sa| sa * e.scale).collect());
        s_in = match &s_ch {
            Some(sc) => sc.iter().sum::<f64>() / sc.len() as f64,
            None => e.scale,
        };
        zp_in = e.zero_point;
        let bias: Vec<i64> = bias
            .into_iter()
            .map(|b| (b + e.bias_offset).clamp(-lim as i64, lim as i64 - 1))
            .collect();
        let data = LayerData {
            weights: DenseWeights {
                kind: opts.kind,
                rows,
                cols,
                data: q,
            },
            bias,
            shift: e.shift,
            activation: e.activation,
        };
        let kind = integer_kind(fl.kind);
        v_int = v_int
            .iter()
            .map(|x| layer_forward(&kind, &data, acc, x))
            .collect();
        layers.push(QLayer {
            kind,
            data,
            acc,
            scale: s_in,
            zero_point: zp_in,
            channel_scales: s_ch.clone(),
            unrounded: wq
                .iter()
                .enumerate()
                .map(|(k, &w)| (w / s_rows[k / cols]) as f32)
                .collect(),
        });
        report.push(LayerReport {
            name: super::float_spec::float_layer_name(fl, l),
            weight_scale: s_w,
            clipped_weights: clipped,
            clamped_biases,
            ..LayerReport::default()
        });
    }
    Ok(Quantized {
        name: m.name.clone(),
        input,
        output_scale: s_in,
        output_zero_point: zp_in as i32,
        output: m.output,
        narrow: plan.narrow.to_vec(),
        layers,
        labels: super::float_spec::label_list(m),
        report,
    })
}

/// The integer layer kind of a float one: an average pool divides by its
/// window's area as `Σ · mul >> shift` (pools that leave padding out of the
/// divisor are refused or folded away before: see [`unsupported_pool`]).
fn integer_kind(k: FloatLayerKind) -> LayerKind {
    k.with_divisor(|window, _| {
        let (mul, shift) = avg_divisor(window.kernel[0] * window.kernel[1]);
        AvgDivisor { mul, shift }
    })
}

/// A pool's integer layer over inputs of scale `scale` and zero point `zp`,
/// which its outputs keep: a max of values is the value of the max, and an
/// average pool divides by (about) its window's area.
fn pool_layer(fl: &FloatLayer, kind: WeightKind, scale: f64, zp: i64) -> QLayer {
    QLayer {
        kind: integer_kind(fl.kind),
        data: LayerData::pool(kind, pool_activation(fl.activation, scale, zp)),
        acc: Elem::I16,
        scale,
        zero_point: zp,
        channel_scales: None,
        unrounded: Vec::new(),
    }
}

/// The scale of the input each weight `(row, col)` of `fl` multiplies,
/// from the scales `sc` of the channels of the map coming in.
fn input_channel_scales<'a>(fl: &FloatLayer, sc: &'a [f64]) -> impl Fn(usize, usize) -> f64 + 'a {
    let (per_in, per_out, area, plane) = match fl.kind {
        FloatLayerKind::Conv {
            input,
            window,
            groups,
        } => (
            input.channels / groups,
            fl.weight.len() / groups,
            window.kernel[0] * window.kernel[1],
            0,
        ),
        _ => (0, 1, 1, fl.inputs() / sc.len().max(1)),
    };
    // A dense layer after the flatten: column `col` is in channel `col / plane`.
    move |row, col| match col.checked_div(plane) {
        Some(channel) => sc[channel],
        None => sc[row / per_out * per_in + col / area],
    }
}

/// Whether layer `l` takes one weight scale per output channel: a grouped
/// (depthwise) convolution, each of whose channels has a kernel of its
/// own, when their largest weights differ by more than 2× (one scale would
/// leave the small kernels a few steps), with a scale-free activation (none,
/// ReLU, leaky ReLU: a clamp or a table has one set of bounds for every
/// channel), and a layer with weights after it to take the channels' scales
/// (through pools without clips).
fn per_channel_pays(m: &FloatMlp, l: usize, w: &[f64], cols: usize) -> bool {
    let fl = &m.layers[l];
    let grouped = matches!(fl.kind, FloatLayerKind::Conv { groups, .. } if groups > 1);
    let scale_free = matches!(
        fl.activation,
        FloatActivation::None | FloatActivation::Relu | FloatActivation::LeakyRelu { .. }
    );
    let next = consumer(m, l);
    let read = next < m.layers.len()
        && m.layers[l + 1..next]
            .iter()
            .all(|p| matches!(p.activation, FloatActivation::None | FloatActivation::Relu));
    if !(grouped && scale_free && read) || cols == 0 {
        return false;
    }
    let tops: Vec<f64> = w
        .chunks(cols)
        .map(|r| r.iter().fold(0.0f64, |a, &v| a.max(v.abs())))
        .filter(|&t| t > 0.0)
        .collect();
    let (lo, hi) = tops
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &t| (a.min(t), b.max(t)));
    hi > 2.0 * lo
}

/// Count clamping on the calibration data, then (for `auto`) pick 16-bit
/// accumulators where the range analysis allows.
fn finish(mut q: Quantized, _m: &FloatMlp, data: &Dataset) -> Quantized {
    count_clamping(&mut q, data);
    q
}

/// Run the integer model on `data` without wrapping and count, per layer,
/// the values that would not fit (inputs outside the declared range for the
/// first layer, accumulators outside their width, activations outside int16).
pub fn count_clamping(q: &mut Quantized, data: &Dataset) {
    for r in &mut q.report {
        r.clamped = 0;
        r.values = 0;
    }
    let (lo, hi) = q.input.range.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    for x in &data.x {
        let r0 = &mut q.report[0];
        r0.values += x.len();
        r0.clamped += x
            .iter()
            .filter(|&&v| (v as f64) < lo || (v as f64) > hi)
            .count();
        let mut v: Vec<i64> = x
            .iter()
            .map(|&f| q.input.quantize(f as f64) as i64)
            .collect();
        for (l, layer) in q.layers.iter().enumerate() {
            let d = &layer.data;
            let sums = layer_sums(&layer.kind, d, &v);
            let pool = layer.is_pool();
            let lim = 1i64 << (layer.acc.bits() - 1);
            let mut bad = 0;
            let out: Vec<i64> = sums
                .iter()
                .map(|&s| {
                    let y = if pool { s } else { s >> d.shift };
                    if (!pool && (s < -lim || s >= lim)) || !(-32768..=32767).contains(&y) {
                        bad += 1;
                    }
                    let y = y.clamp(-32768, 32767);
                    match &d.activation {
                        Some(a) => a.apply(y as i16) as i64,
                        None => y,
                    }
                })
                .collect();
            q.report[l].values += out.len();
            q.report[l].clamped += bad;
            v = out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::float_model::{FloatActivation, FloatLayer, FloatLayerKind};

    /// A deterministic stream of floats in `[lo, hi)`.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, lo: f32, hi: f32) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((self.0 >> 40) as f32 / (1u64 << 24) as f32)
        }
    }

    /// A random ReLU MLP `sizes[0] → … → sizes[last]` and 200 samples in `[lo, hi)`.
    fn relu_mlp(seed: u64, sizes: &[usize], (lo, hi): (f32, f32)) -> (FloatMlp, Dataset) {
        let mut r = Lcg(seed);
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(k, w)| FloatLayer {
                kind: FloatLayerKind::Dense,
                weight: (0..w[1])
                    .map(|_| (0..w[0]).map(|_| r.next(-0.5, 0.5)).collect())
                    .collect(),
                bias: (0..w[1]).map(|_| r.next(-0.2, 0.2)).collect(),
                activation: if k + 2 < sizes.len() {
                    FloatActivation::Relu
                } else {
                    FloatActivation::None
                },
            })
            .collect();
        let m = FloatMlp {
            name: "t".into(),
            inputs: sizes[0],
            layers,
            labels: None,
            output: FloatOutput::Classes,
        };
        let x = (0..200)
            .map(|_| (0..sizes[0]).map(|_| r.next(lo, hi)).collect())
            .collect();
        (m, Dataset { x, y: Vec::new() })
    }

    fn opts(activations: ActChoice) -> Options {
        Options {
            kind: WeightKind::Int8,
            acc: AccChoice::Bits32,
            range: RangeMethod::MinMax,
            activations,
        }
    }

    #[test]
    fn narrow_inputs_take_the_calibrated_range_onto_0_to_255() {
        let q = narrow_input(0.0, 16.0);
        assert_eq!(
            (q.zero_point, q.quantize(0.0), q.quantize(16.0)),
            (0, 0, 255)
        );
        let q = narrow_input(-3.0, 5.0);
        assert_eq!(q.quantize(-3.0), 0);
        assert!((254..=255).contains(&q.quantize(5.0)), "{q:?}");
        assert_eq!(q.quantize(0.0) as i32, q.zero_point);
        let q = narrow_input(-2.0, -1.0);
        assert_eq!((q.quantize(-2.0), q.zero_point), (0, 255));
    }

    #[test]
    fn the_8_bit_plan_keeps_inputs_and_relu_outputs_in_0_to_255() {
        for (seed, range) in [(1, (0.0, 4.0)), (2, (-1.0, 3.0))] {
            let (m, d) = relu_mlp(seed, &[12, 16, 8, 4], range);
            let q = quantize(&m, &d, opts(ActChoice::Bits8));
            let model = super::super::write::to_model(&q);
            for x in &d.x {
                let mut v: Vec<i64> = x
                    .iter()
                    .map(|&f| i64::from(q.input.quantize(f64::from(f))))
                    .collect();
                assert!(v.iter().all(|a| (0..=255).contains(a)), "{v:?}");
                let input: Vec<i16> = v.iter().map(|&a| a as i16).collect();
                for (k, l) in q.layers.iter().enumerate() {
                    v = layer_forward(&l.kind, &l.data, l.acc, &v);
                    if k + 1 < q.layers.len() {
                        assert!(v.iter().all(|a| (0..=255).contains(a)), "layer {k}: {v:?}");
                    }
                }
                // ptq's own forward is the interpreter's.
                let want = zlmc_ir::interp::step(&model.graph, &input).logits;
                let got: Vec<i16> = forward(&q, x).iter().map(|&a| a as i16).collect();
                assert_eq!(got, want);
            }
            assert!(disagreement(&m, &q, &d) < 0.05, "seed {seed}");
        }
    }

    #[test]
    fn the_16_bit_plan_scales_inputs_to_the_activation_budget() {
        let (m, d) = relu_mlp(3, &[12, 16, 4], (0.0, 4.0));
        let q = quantize(&m, &d, opts(ActChoice::Bits16));
        assert_eq!(q.input.quantize(4.0), ACT_BUDGET as i16);
        let auto = quantize(&m, &d, opts(ActChoice::Auto));
        let wide = disagreement(&m, &q, &d);
        assert!(disagreement(&m, &auto, &d) <= wide + AUTO_TOLERANCE);
    }
}
