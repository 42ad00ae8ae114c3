//! The trained network: a chain of integer layers (dense, convolutions,
//! pools) with latent float parameters in integer units, its exact forward
//! pass (the interpreter's arithmetic) and its straight-through backward pass.

use zlmc_ir::op::shift_to_i16;
use zlmc_ir::{Activation, DenseWeights, Elem, Model, Op, WeightKind, Weights};

use super::gemm::{matmul, View};
use super::maps::{pool, pool_backward, ConvShape, Reduce};
use super::TrainError;
use crate::frontend::quantize::{AvgDivisor, Layer as LoweredLayer, LayerData, LayerKind};

/// Largest partial sum an f32 product holds exactly (2^24).
const F32_EXACT: f64 = 16_777_216.0;

/// One layer being trained.
#[derive(Debug, Clone)]
pub struct Layer {
    /// What it computes: a dense layer, a convolution (weights one row per
    /// output channel) or a pool (no weights, no bias).
    pub op: LayerKind,
    /// The values a weight may take.
    pub kind: WeightKind,
    /// Output units (a convolution's output channels; 0 for a pool).
    pub rows: usize,
    /// Inputs (a convolution's weights per output channel; 0 for a pool).
    pub cols: usize,
    /// Latent weights in integer units, row-major; the layer uses them rounded.
    pub w: Vec<f32>,
    /// Latent biases in accumulator units.
    pub b: Vec<f64>,
    /// Weights that may change (`None`: all); the others stay 0.
    pub mask: Option<Vec<bool>>,
    /// Accumulator width.
    pub acc: Elem,
    /// Right shift after the bias.
    pub shift: u32,
    /// Activation after the shift.
    pub activation: Option<Activation>,
}

/// Round a latent weight to one of `kind`'s values (binary: its sign, 0 → +1).
pub fn quantize_weight(w: f32, kind: WeightKind) -> i8 {
    if kind == WeightKind::Binary {
        return if w < 0.0 { -1 } else { 1 };
    }
    let (lo, hi) = kind.range();
    w.round().clamp(lo as f32, hi as f32) as i8
}

/// Round a latent bias into the accumulator's range.
pub fn quantize_bias(b: f64, acc: Elem) -> i64 {
    let lim = (1i64 << (acc.bits() - 1)) as f64;
    b.round().clamp(-lim, lim - 1.0) as i64
}

impl Layer {
    /// A convolution's geometry.
    fn conv(&self) -> Option<ConvShape> {
        match self.op {
            LayerKind::Conv {
                input,
                window,
                groups,
            } => Some(ConvShape {
                input,
                window,
                groups,
                rows: self.rows,
            }),
            _ => None,
        }
    }

    /// A pool's input, window and reduction.
    fn pool(&self) -> Option<(zlmc_ir::Shape, zlmc_ir::Window, Reduce)> {
        match self.op {
            LayerKind::MaxPool { input, window } => Some((input, window, Reduce::Max)),
            LayerKind::AvgPool {
                input,
                window,
                divisor,
            } => Some((
                input,
                window,
                Reduce::Avg {
                    mul: divisor.mul,
                    shift: divisor.shift,
                },
            )),
            _ => None,
        }
    }

    /// Flat input length.
    pub fn in_len(&self) -> usize {
        match self.op.map_input() {
            Some((input, _)) => input.len(),
            None => self.cols,
        }
    }

    /// Flat output length.
    pub fn out_len(&self) -> usize {
        match (self.conv(), self.pool()) {
            (Some(c), _) => c.out_len(),
            (_, Some((input, window, _))) => window
                .map_over(input, input.channels)
                .expect("a verified pool fits its input")
                .len(),
            _ => self.rows,
        }
    }

    /// Which output channel (bias) flat output `i` of one input belongs to.
    fn channel_of(&self, i: usize) -> usize {
        match self.conv() {
            Some(c) => i % c.out_len() / c.positions(),
            None => i % self.rows,
        }
    }

    /// The layer's integer weights, masked.
    pub fn int_weights(&self) -> Vec<i8> {
        self.w
            .iter()
            .enumerate()
            .map(|(i, &w)| match &self.mask {
                Some(m) if !m[i] => 0,
                _ => quantize_weight(w, self.kind),
            })
            .collect()
    }

    /// The layer's integer biases.
    pub fn int_bias(&self) -> Vec<i64> {
        self.b.iter().map(|&b| quantize_bias(b, self.acc)).collect()
    }

    /// The layer as the frontend's layer data.
    pub fn data(&self) -> LayerData {
        LayerData {
            weights: DenseWeights {
                kind: self.kind,
                rows: self.rows,
                cols: self.cols,
                data: self.int_weights(),
            },
            bias: self.int_bias(),
            shift: self.shift,
            activation: self.activation.clone(),
        }
    }

    /// Keep latent weights where rounding still reaches the kind's ends, so
    /// that a weight pushed past an end comes back after one step.
    pub fn clip_latent(&mut self) {
        let (lo, hi) = self.kind.range();
        let (lo, hi) = if self.kind == WeightKind::Binary {
            (-1.0, 1.0)
        } else {
            (lo as f32 - 0.49, hi as f32 + 0.49)
        };
        for w in &mut self.w {
            *w = w.clamp(lo, hi);
        }
        if let Some(m) = &self.mask {
            for (w, &keep) in self.w.iter_mut().zip(m) {
                if !keep {
                    *w = 0.0;
                }
            }
        }
        let lim = (1i64 << (self.acc.bits() - 1)) as f64;
        for b in &mut self.b {
            *b = b.clamp(-lim, lim - 1.0);
        }
    }
}

/// The layers of a verified dense-chain model, in order: each a `matmul`
/// followed by an `epilogue`, or by `bias`, `shift` and an optional activation.
pub fn layers_of(model: &Model) -> Result<Vec<(LayerData, Elem)>, TrainError> {
    chain_of(model)?
        .into_iter()
        .map(|l| match l.kind {
            LayerKind::Dense => Ok((l.data, l.acc)),
            _ => Err(TrainError::Unsupported(
                "this takes dense layers only, and the model has convolutions or pools".into(),
            )),
        })
        .collect()
}

/// The layers of a verified chain model, in order: dense layers and
/// convolutions (`matmul`/`conv`, then an `epilogue`, or `bias`, `shift`
/// and an optional activation) and pools (with an optional activation);
/// reshapes and flattens, which move nothing, are passed over.
pub fn chain_of(model: &Model) -> Result<Vec<LoweredLayer>, TrainError> {
    let g = &model.graph;
    let unsupported = |why: String| TrainError::Unsupported(why);
    let mut n = g
        .input()
        .ok_or_else(|| unsupported("the graph has no input".into()))?;
    let next = |n| -> Result<_, TrainError> {
        match g.users(n).as_slice() {
            [u] => Ok(*u),
            [] => Err(TrainError::Unsupported(
                "the graph does not end in argmax".into(),
            )),
            _ => Err(TrainError::Unsupported(
                "training takes a chain of layers; a value here has several users".into(),
            )),
        }
    };
    let mut out = Vec::new();
    loop {
        n = next(n)?;
        let map_in = || {
            g.node(g.operands(n)[0])
                .ty
                .shape()
                .ok_or_else(|| unsupported("a window op without a map".into()))
        };
        let (kind, weights, acc) = match &g.node(n).op {
            Op::Argmax => break,
            Op::Reshape { .. } | Op::Flatten => continue,
            Op::MatMul { weights, acc } => (LayerKind::Dense, weights, *acc),
            Op::Conv {
                window,
                groups,
                weights,
                acc,
            } => (
                LayerKind::Conv {
                    input: map_in()?,
                    window: *window,
                    groups: *groups,
                },
                weights,
                *acc,
            ),
            op @ (Op::MaxPool { .. } | Op::AvgPool { .. }) => {
                let input = map_in()?;
                let kind = match *op {
                    Op::MaxPool { window } => LayerKind::MaxPool { input, window },
                    Op::AvgPool { window, mul, shift } => LayerKind::AvgPool {
                        input,
                        window,
                        divisor: AvgDivisor { mul, shift },
                    },
                    _ => unreachable!("a pool"),
                };
                let activation = activation_after(g, &mut n);
                let weight_kind = out
                    .last()
                    .map_or(WeightKind::Int8, |l: &LoweredLayer| l.data.weights.kind);
                out.push(LoweredLayer {
                    kind,
                    data: LayerData::pool(weight_kind, activation),
                    acc: Elem::I16,
                });
                continue;
            }
            op => {
                return Err(unsupported(format!(
                    "training takes dense layers, convolutions and pools, found `{}`",
                    op.mnemonic()
                )))
            }
        };
        let dense = match weights {
            Weights::Dense(d) => d.clone(),
            Weights::Sparse(s) => DenseWeights {
                kind: s.kind,
                rows: s.rows.len(),
                cols: s.cols,
                data: (0..s.rows.len())
                    .flat_map(|r| (0..s.cols).map(move |c| weights.get(r, c)))
                    .collect(),
            },
        };
        let rows = dense.rows;
        n = next(n)?;
        let (bias, shift, activation) = match &g.node(n).op {
            Op::Epilogue {
                bias,
                shift,
                activation,
            } => (bias.clone(), *shift, activation.clone()),
            Op::Bias { values } => {
                let bias = values.clone();
                n = next(n)?;
                let Op::Shift { amount } = g.node(n).op else {
                    return Err(unsupported(format!(
                        "training takes bias then shift, found `{}` after bias",
                        g.node(n).op.mnemonic()
                    )));
                };
                (bias, amount, None)
            }
            op => {
                return Err(unsupported(format!(
                    "training takes matmul then bias or epilogue, found `{}`",
                    op.mnemonic()
                )))
            }
        };
        let activation = match activation {
            Some(a) => Some(a),
            None => activation_after(g, &mut n),
        };
        if bias.len() != rows {
            return Err(unsupported("a bias does not match its layer".into()));
        }
        out.push(LoweredLayer {
            kind,
            data: LayerData {
                weights: dense,
                bias,
                shift,
                activation,
            },
            acc,
        });
    }
    if out.is_empty() {
        return Err(unsupported("the model has no layers".into()));
    }
    Ok(out)
}

/// The activation that is node `n`'s only user, if it is one; `n` then
/// moves on to it.
fn activation_after(g: &zlmc_ir::Graph, n: &mut zlmc_ir::NodeId) -> Option<Activation> {
    match g.users(*n).as_slice() {
        [u] => match &g.node(*u).op {
            Op::Activate(a) => {
                *n = *u;
                Some(a.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

/// What a forward pass keeps for the backward pass, per layer.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Each layer's input, `batch × cols`, then the last layer's output.
    pub acts: Vec<Vec<f32>>,
    /// Each layer's value after the shift, before the activation (`batch × rows`).
    pub pre: Vec<Vec<f32>>,
    /// Each layer's sum plus bias before the shift, unwrapped, divided by 2^shift.
    pub unwrapped: Vec<Vec<f32>>,
}

impl Trace {
    /// The last layer's outputs, `batch × classes`.
    pub fn output(&self) -> &[f32] {
        self.acts.last().expect("a forward pass has an output")
    }
}

/// A network being trained.
#[derive(Debug, Clone)]
pub struct Net {
    /// The layers, first to last.
    pub layers: Vec<Layer>,
}

/// Per-layer gradients.
#[derive(Debug, Clone)]
pub struct Grads {
    /// d loss / d latent weight, per layer.
    pub w: Vec<Vec<f32>>,
    /// d loss / d latent bias, per layer.
    pub b: Vec<Vec<f64>>,
}

impl Net {
    /// The network of `model`; with `keep_zeros`, its zero weights stay zero.
    pub fn from_model(model: &Model, keep_zeros: bool) -> Result<Net, TrainError> {
        let layers = chain_of(model)?
            .into_iter()
            .map(|LoweredLayer { kind, data: d, acc }| {
                let w = &d.weights;
                Layer {
                    op: kind,
                    kind: w.kind,
                    rows: w.rows,
                    cols: w.cols,
                    w: w.data.iter().map(|&x| x as f32).collect(),
                    b: d.bias.iter().map(|&x| x as f64).collect(),
                    mask: keep_zeros.then(|| w.data.iter().map(|&x| x != 0).collect()),
                    acc,
                    shift: d.shift,
                    activation: d.activation,
                }
            })
            .collect();
        Ok(Net { layers })
    }

    /// Start each latent weight where its float weight lies within the
    /// integer step it rounds to: the integer model is unchanged, but the
    /// straight-through gradient starts from what the float model knew
    /// (which ternary weight was nearly 0, which nearly 1). `unrounded`
    /// holds a layer's float weights in integer units, or is short.
    pub fn start_from_unrounded(&mut self, unrounded: &[Vec<f32>]) {
        for (l, u) in self.layers.iter_mut().zip(unrounded) {
            if u.len() != l.w.len() {
                continue;
            }
            for (w, &f) in l.w.iter_mut().zip(u) {
                let q = *w;
                *w = if l.kind == WeightKind::Binary {
                    // The sign is the weight; keep it.
                    if q > 0.0 {
                        f.clamp(0.0, 1.0)
                    } else {
                        f.clamp(-1.0, -1e-3)
                    }
                } else {
                    q + (f - q).clamp(-0.49, 0.49)
                };
            }
            l.clip_latent();
        }
    }

    /// The integer model: `start`'s name, encoders and decoding, this
    /// network's layers, lowered as a spec is.
    pub fn to_model(&self, start: &Model) -> Model {
        crate::frontend::lower::lower_layers(
            &start.name,
            start.encoders.clone(),
            start.decode.clone(),
            self.layers
                .iter()
                .map(|l| LoweredLayer {
                    kind: l.op,
                    data: l.data(),
                    acc: l.acc,
                })
                .collect(),
        )
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.layers[0].in_len()
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.layers.last().expect("a net has layers").out_len()
    }

    /// The exact integer forward pass on a `batch × inputs` matrix of int16
    /// values: the interpreter's arithmetic, step for step.
    pub fn forward(&self, x: Vec<f32>, batch: usize, threads: usize) -> Trace {
        self.run(x, batch, threads, true)
    }

    /// The float surrogate the backward pass differentiates: latent weights
    /// unrounded, no wrapping, shifts as exact division, tables interpolated.
    pub fn forward_surrogate(&self, x: Vec<f32>, batch: usize) -> Trace {
        self.run(x, batch, 1, false)
    }

    fn run(&self, x: Vec<f32>, batch: usize, threads: usize, exact: bool) -> Trace {
        let mut t = Trace::default();
        t.acts.push(x);
        for l in &self.layers {
            let input = t.acts.last().expect("input");
            let (pre, unwrapped, out) = if exact {
                layer_exact(l, input, batch, threads)
            } else {
                layer_surrogate(l, input, batch)
            };
            t.pre.push(pre);
            t.unwrapped.push(unwrapped);
            t.acts.push(out);
        }
        t
    }

    /// Gradients of the loss from `d_out` (d loss / d output, `batch × outputs`)
    /// through the pass `t`, with the range penalty's `range_weight`; adds
    /// the penalty to the loss it returns.
    pub fn backward(
        &self,
        t: &Trace,
        delta: Vec<f32>,
        batch: usize,
        range_weight: f32,
        threads: usize,
        exact: bool,
    ) -> (Grads, f64) {
        self.backward_penalized(t, delta, batch, (range_weight, 0.0), threads, exact)
    }

    /// [`Net::backward`] with an L1 penalty of `activity_weight` on the
    /// hidden layers' outputs too (`weights` is `(range_weight,
    /// activity_weight)`); adds both penalties to the loss it returns.
    pub fn backward_penalized(
        &self,
        t: &Trace,
        mut delta: Vec<f32>,
        batch: usize,
        weights: (f32, f32),
        threads: usize,
        exact: bool,
    ) -> (Grads, f64) {
        let (range_weight, activity_weight) = weights;
        let n = self.layers.len();
        let mut gw = vec![Vec::new(); n];
        let mut gb = vec![Vec::new(); n];
        let mut penalty = 0.0f64;
        for (li, l) in self.layers.iter().enumerate().rev() {
            let x = &t.acts[li];
            if let Some((input, window, reduce)) = l.pool() {
                // No weights: the activation's slope, then the pool's routing.
                let dy: Vec<f32> = delta
                    .iter()
                    .zip(&t.pre[li])
                    .map(|(&d, &y)| d * activation_slope(l.activation.as_ref(), y))
                    .collect();
                if li > 0 {
                    delta = pool_backward(input, window, reduce, x, batch, &dy);
                }
                continue;
            }
            let out_len = l.out_len();
            let pre = &t.pre[li];
            let unwrapped = &t.unwrapped[li];
            let limit = range_limit(l);
            let down = (0.5f64).powi(l.shift as i32) as f32;
            // d loss / d (sum + bias), before the shift.
            let mut du = vec![0f32; batch * out_len];
            let hidden = li + 1 < n && activity_weight > 0.0;
            for i in 0..batch * out_len {
                if hidden {
                    let y = t.acts[li + 1][i];
                    penalty += (activity_weight * y.abs()) as f64 / batch as f64;
                    delta[i] += activity_weight * y.signum() / batch as f32;
                }
                let dy = delta[i] * activation_slope(l.activation.as_ref(), pre[i]);
                let u = unwrapped[i];
                let over = u.abs() - limit;
                let dpen = if over > 0.0 && range_weight > 0.0 {
                    penalty += (range_weight * over * over) as f64 / batch as f64;
                    2.0 * range_weight * over * u.signum() / batch as f32
                } else {
                    0.0
                };
                du[i] = (dy + dpen) * down;
            }
            let w = |exact: bool| -> Vec<f32> {
                if exact {
                    l.int_weights().iter().map(|&v| v as f32).collect()
                } else {
                    masked_latent(l)
                }
            };
            let mut db = vec![0f64; l.rows];
            for (i, &d) in du.iter().enumerate() {
                db[l.channel_of(i)] += d as f64;
            }
            let (dw, dx) = match l.conv() {
                Some(c) => {
                    let w64: Vec<f64> = w(exact).iter().map(|&v| f64::from(v)).collect();
                    c.backward(x, batch, &du, &w64, li > 0, threads)
                }
                None => {
                    let dw = matmul(
                        View::new(&du, batch, l.rows).t(),
                        View::new(x, batch, l.cols),
                        threads,
                    );
                    let dx = (li > 0).then(|| {
                        matmul(
                            View::new(&du, batch, l.rows),
                            View::new(&w(exact), l.rows, l.cols),
                            threads,
                        )
                    });
                    (dw, dx)
                }
            };
            gw[li] = match &l.mask {
                Some(m) => dw
                    .into_iter()
                    .zip(m)
                    .map(|(g, &k)| if k { g } else { 0.0 })
                    .collect(),
                None => dw,
            };
            gb[li] = db;
            if let Some(dx) = dx {
                delta = dx;
            }
        }
        (Grads { w: gw, b: gb }, penalty)
    }
}

/// Where the range penalty starts, in the layer's post-shift units: half of
/// int16, or half of the accumulator's range brought below the shift.
pub fn range_limit(l: &Layer) -> f32 {
    let acc_half = (1u64 << (l.acc.bits() - 2)) as f64 / (1u64 << l.shift) as f64;
    acc_half.min(16384.0) as f32
}

fn masked_latent(l: &Layer) -> Vec<f32> {
    match &l.mask {
        Some(m) => {
            l.w.iter()
                .zip(m)
                .map(|(&w, &k)| if k { w } else { 0.0 })
                .collect()
        }
        None => l.w.clone(),
    }
}

/// One layer of the exact pass: (post-shift values, unwrapped sums / 2^shift, outputs).
fn layer_exact(
    l: &Layer,
    x: &[f32],
    batch: usize,
    threads: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    if let Some((input, window, reduce)) = l.pool() {
        return pooled(l, pool(input, window, reduce, x, batch, true), true);
    }
    let wq = l.int_weights();
    let sums: Vec<i64> = match l.conv() {
        // Exact in f64: every sum is far below 2^53.
        Some(c) => {
            let w: Vec<f64> = wq.iter().map(|&v| f64::from(v)).collect();
            c.sums(x, batch, &w, threads)
                .into_iter()
                .map(|s| s as i64)
                .collect()
        }
        None => dense_sums(l, &wq, x, batch, threads),
    };
    let bias = l.int_bias();
    let scale = (0.5f64).powi(l.shift as i32);
    let mut pre = Vec::with_capacity(sums.len());
    let mut unwrapped = Vec::with_capacity(sums.len());
    let mut out = Vec::with_capacity(sums.len());
    for (i, &s) in sums.iter().enumerate() {
        let b = bias[l.channel_of(i)];
        unwrapped.push(((s + b) as f64 * scale) as f32);
        let y = shift_to_i16(l.acc.wrap(l.acc.wrap(s) + b), l.shift);
        pre.push(y as f32);
        let a = match &l.activation {
            Some(a) => a.apply(y as i16) as f32,
            None => y as f32,
        };
        out.push(a);
    }
    (pre, unwrapped, out)
}

/// A pool's `(pre, unwrapped, out)`: the pooled values, then the activation
/// (exactly, or its surrogate).
fn pooled(l: &Layer, pre: Vec<f32>, exact: bool) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let out = pre
        .iter()
        .map(|&y| match (&l.activation, exact) {
            (Some(a), true) => a.apply(y as i16) as f32,
            (a, _) => activation_surrogate(a.as_ref(), y),
        })
        .collect();
    (pre.clone(), pre, out)
}

/// A dense layer's exact sums of `batch` inputs with integer weights `wq`.
fn dense_sums(l: &Layer, wq: &[i8], x: &[f32], batch: usize, threads: usize) -> Vec<i64> {
    let wmax = wq.iter().map(|&w| (w as i32).abs()).max().unwrap_or(0) as f64;
    let xmax = x.iter().fold(0f32, |m, &v| m.max(v.abs())) as f64;
    // Every partial sum is at most cols·max|w|·max|x|: below 2^24 f32 sums
    // integers exactly in any order; above it f64 does (below 2^53).
    if wmax * xmax * l.cols as f64 <= F32_EXACT {
        let w: Vec<f32> = wq.iter().map(|&v| v as f32).collect();
        matmul(
            View::new(x, batch, l.cols),
            View::new(&w, l.rows, l.cols).t(),
            threads,
        )
        .into_iter()
        .map(|s| s as i64)
        .collect()
    } else {
        let w: Vec<f64> = wq.iter().map(|&v| v as f64).collect();
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        matmul(
            View::new(&x64, batch, l.cols),
            View::new(&w, l.rows, l.cols).t(),
            threads,
        )
        .into_iter()
        .map(|s| s as i64)
        .collect()
    }
}

/// One layer of the float surrogate.
fn layer_surrogate(l: &Layer, x: &[f32], batch: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    if let Some((input, window, reduce)) = l.pool() {
        return pooled(l, pool(input, window, reduce, x, batch, false), false);
    }
    let w = masked_latent(l);
    let sums: Vec<f64> = match l.conv() {
        Some(c) => {
            let w: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
            c.sums(x, batch, &w, 1)
        }
        None => matmul(
            View::new(x, batch, l.cols),
            View::new(&w, l.rows, l.cols).t(),
            1,
        )
        .into_iter()
        .map(f64::from)
        .collect(),
    };
    let scale = (0.5f64).powi(l.shift as i32);
    let pre: Vec<f32> = sums
        .iter()
        .enumerate()
        .map(|(i, &s)| ((s + l.b[l.channel_of(i)]) * scale) as f32)
        .collect();
    let out = pre
        .iter()
        .map(|&y| activation_surrogate(l.activation.as_ref(), y))
        .collect();
    (pre.clone(), pre, out)
}

/// The float function an activation stands for in the surrogate: the
/// integer one's continuous form, tables linearly interpolated.
pub fn activation_surrogate(a: Option<&Activation>, y: f32) -> f32 {
    match a {
        None => y,
        Some(Activation::Relu) => y.max(0.0),
        Some(Activation::Clamp { lo, hi }) => y.clamp(*lo as f32, *hi as f32),
        Some(Activation::LeakyRelu { mul, shift }) => {
            if y >= 0.0 {
                y
            } else {
                y * *mul as f32 / (1u32 << shift) as f32
            }
        }
        Some(Activation::Lut { lo, table }) => {
            let t = y - *lo as f32;
            let last = table.len() - 1;
            if t <= 0.0 {
                table[0] as f32
            } else if t >= last as f32 {
                table[last] as f32
            } else {
                let i = t.floor() as usize;
                let f = t - i as f32;
                table[i] as f32 + f * (table[i + 1] as f32 - table[i] as f32)
            }
        }
    }
}

/// The straight-through derivative of an activation at `y`: the slope of
/// its surrogate (a table's segment from `y` up; 0 beyond the table).
pub fn activation_slope(a: Option<&Activation>, y: f32) -> f32 {
    match a {
        None => 1.0,
        Some(Activation::Relu) => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Some(Activation::Clamp { lo, hi }) => {
            if y > *lo as f32 && y < *hi as f32 {
                1.0
            } else {
                0.0
            }
        }
        Some(Activation::LeakyRelu { mul, shift }) => {
            if y >= 0.0 {
                1.0
            } else {
                *mul as f32 / (1u32 << shift) as f32
            }
        }
        Some(Activation::Lut { lo, table }) => {
            let t = y - *lo as f32;
            let last = table.len() - 1;
            if t < 0.0 || t >= last as f32 {
                0.0
            } else {
                let i = t.floor() as usize;
                table[i + 1] as f32 - table[i] as f32
            }
        }
    }
}
