//! Static range analysis: from a raw input's declared range, a worst-case
//! bound on every layer's accumulator (interval arithmetic, no wrapping), so
//! 16-bit accumulators are chosen only where overflow is impossible.
//!
//! Because every op wraps (a ring homomorphism), a layer is exact in 16 bits
//! exactly when its final value `Σ w·x + b` fits; partial sums may overflow.

use std::collections::HashMap;
use std::path::Path;

use zlmc_ir::{Activation, Elem, Model, NodeId, Op, Shape, Weights, Window};

/// The worst case of one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBound {
    /// Layer index, 0-based, in matmul order.
    pub layer: usize,
    /// The accumulator the model gives the layer.
    pub acc: Elem,
    /// Largest `|Σ w·x + b|` over the declared input box.
    pub bound: i64,
    /// Largest `|(Σ w·x + b) >> shift|`: above 32767 the activation can wrap.
    pub out_bound: i64,
}

impl LayerBound {
    /// Whether a 16-bit accumulator can never overflow here.
    pub fn fits16(&self) -> bool {
        self.bound <= i16::MAX as i64
    }
}

type Box = Vec<(i64, i64)>;

/// Per-layer bounds, or `None` when the model declares no input range.
pub fn analyze(model: &Model) -> Option<Vec<LayerBound>> {
    let (lo, hi) = model.input_quant()?.int_range()?;
    let g = &model.graph;
    let mut vals: HashMap<NodeId, Box> = HashMap::new();
    let mut out = Vec::new();
    // For a layer: index in `out` of the bound its accumulator feeds.
    let mut pending: HashMap<NodeId, usize> = HashMap::new();
    for n in g.topo_order()? {
        let node = g.node(n);
        let ops = g.operands(n);
        let arg = |i: usize| vals.get(&ops[i]).cloned().unwrap_or_default();
        let v: Box = match &node.op {
            Op::Input { len } => vec![(lo, hi); *len],
            Op::MatMul { weights, acc } => {
                let x = arg(0);
                let v: Box = (0..weights.rows())
                    .map(|r| {
                        weights
                            .row_entries(r)
                            .iter()
                            .fold((0i64, 0i64), |(a, b), &(c, w)| {
                                let (xl, xh) = x[c as usize];
                                let (p, q) = (w as i64 * xl, w as i64 * xh);
                                (a.saturating_add(p.min(q)), b.saturating_add(p.max(q)))
                            })
                    })
                    .collect();
                out.push(LayerBound {
                    layer: out.len(),
                    acc: *acc,
                    bound: magnitude(&v),
                    out_bound: 0,
                });
                pending.insert(n, out.len() - 1);
                v
            }
            Op::Bias { values } => {
                let v = add(&arg(0), values);
                if let Some(&i) = pending.get(&ops[0]) {
                    out[i].bound = magnitude(&v);
                    pending.insert(n, i);
                }
                v
            }
            Op::Shift { amount } => {
                if let Some(&i) = pending.get(&ops[0]) {
                    out[i].out_bound = out[i].bound >> amount;
                }
                shift(&arg(0), *amount)
            }
            Op::Activate(a) => activation(&arg(0), a),
            Op::Epilogue {
                bias,
                shift: s,
                activation: a,
            } => {
                let b = add(&arg(0), bias);
                let v = shift(&b, *s);
                if let Some(&i) = pending.get(&ops[0]) {
                    out[i].bound = magnitude(&b);
                    out[i].out_bound = out[i].bound >> s;
                }
                match a {
                    Some(a) => activation(&v, a),
                    None => v,
                }
            }
            Op::Argmax => Vec::new(),
            Op::Reshape { .. } | Op::Flatten => arg(0),
            Op::Conv {
                window,
                groups,
                weights,
                acc,
            } => {
                let shape = g
                    .node(ops[0])
                    .ty
                    .shape()
                    .expect("verified: conv reads a map");
                let v = conv(&arg(0), shape, window, *groups, weights);
                out.push(LayerBound {
                    layer: out.len(),
                    acc: *acc,
                    bound: magnitude(&v),
                    out_bound: 0,
                });
                pending.insert(n, out.len() - 1);
                v
            }
            Op::MaxPool { window } | Op::AvgPool { window, .. } => {
                let shape = g
                    .node(ops[0])
                    .ty
                    .shape()
                    .expect("verified: pools read maps");
                let x = arg(0);
                let mut v = Vec::new();
                for c in 0..shape.channels {
                    let plane = &x[c * shape.plane()..(c + 1) * shape.plane()];
                    for taps in window.taps(shape) {
                        let held: Vec<(i64, i64)> =
                            taps.iter().flatten().map(|&t| plane[t]).collect();
                        v.push(match node.op {
                            Op::AvgPool { mul, shift: s, .. } => {
                                let (l, h) = held
                                    .iter()
                                    .fold((0i64, 0i64), |(a, b), &(l, h)| (a + l, b + h));
                                shift_one((l * mul as i64, h * mul as i64), s)
                            }
                            _ => held
                                .iter()
                                .fold((i64::MIN, i64::MIN), |(a, b), &(l, h)| (a.max(l), b.max(h))),
                        });
                    }
                }
                v
            }
        };
        vals.insert(n, v);
    }
    Some(out)
}

fn magnitude(v: &Box) -> i64 {
    v.iter()
        .map(|&(a, b)| a.saturating_abs().max(b.saturating_abs()))
        .max()
        .unwrap_or(0)
}

/// `v` plus a bias: one value per element, or one per channel of a map
/// (each repeated over its plane).
fn add(v: &Box, b: &[i64]) -> Box {
    let plane = if b.is_empty() { 1 } else { v.len() / b.len() };
    v.iter()
        .enumerate()
        .map(|(i, &(l, h))| {
            let b = b[i / plane.max(1)];
            (l.saturating_add(b), h.saturating_add(b))
        })
        .collect()
}

/// Interval bounds of every convolution sum; a tap on padding adds 0.
fn conv(x: &Box, shape: Shape, window: &Window, groups: usize, w: &Weights) -> Box {
    let area = window.area();
    let (per_in, per_out) = (shape.channels / groups, w.rows() / groups);
    let places = window.taps(shape);
    let mut v = Vec::with_capacity(w.rows() * places.len());
    for o in 0..w.rows() {
        let first = o / per_out * per_in;
        let entries = w.row_entries(o);
        for taps in &places {
            v.push(entries.iter().fold((0i64, 0i64), |(a, b), &(col, wv)| {
                let (ci, tap) = (col as usize / area, col as usize % area);
                let Some(at) = taps[tap] else {
                    return (a, b);
                };
                let (xl, xh) = x[(first + ci) * shape.plane() + at];
                let (p, q) = (wv as i64 * xl, wv as i64 * xh);
                (a.saturating_add(p.min(q)), b.saturating_add(p.max(q)))
            }));
        }
    }
    v
}

/// Shift, then the int16 range: a value that could wrap could be anything.
fn shift(v: &Box, s: u32) -> Box {
    v.iter().map(|&r| shift_one(r, s)).collect()
}

/// One interval shifted, or the whole int16 range if it could wrap.
fn shift_one((l, h): (i64, i64), s: u32) -> (i64, i64) {
    let (l, h) = (l >> s, h >> s);
    if l < i16::MIN as i64 || h > i16::MAX as i64 {
        (i16::MIN as i64, i16::MAX as i64)
    } else {
        (l, h)
    }
}

/// The activation's range over each interval (inputs already within i16).
fn activation(v: &Box, a: &Activation) -> Box {
    v.iter()
        .map(|&(l, h)| {
            let (l, h) = a.bounds(l as i16, h as i16);
            (l as i64, h as i64)
        })
        .collect()
}

/// Warnings for a model file: 16-bit layers that can overflow, activations
/// that can wrap. Empty when the model cannot be loaded (the command itself
/// reports that) or declares no input range.
pub fn file_warnings(path: &Path) -> Vec<String> {
    let Ok(model) = crate::driver::load(path) else {
        return Vec::new();
    };
    let names = layer_names(path);
    warnings(&model, &names)
        .into_iter()
        .map(|w| format!("{}: warning: {w}", path.display()))
        .collect()
}

/// The names a spec gives its layers with weights (those the bounds are of),
/// in order (empty for `.zir` files).
fn layer_names(path: &Path) -> Vec<String> {
    crate::quant::float_spec::read_spec(path)
        .map(|s| {
            s.layers
                .into_iter()
                .filter(|l| l.has_weights())
                .map(|l| l.name)
                .collect()
        })
        .unwrap_or_default()
}

/// The warnings for `model`, layers named from `names` where given.
pub fn warnings(model: &Model, names: &[String]) -> Vec<String> {
    let Some(bounds) = analyze(model) else {
        return Vec::new();
    };
    let mut w = Vec::new();
    for b in bounds {
        let name = names
            .get(b.layer)
            .cloned()
            .unwrap_or_else(|| format!("layer {}", b.layer + 1));
        if b.acc == Elem::I16 && !b.fits16() {
            w.push(format!(
                "layer {name} accumulates in 16 bits but can reach {} over the declared input range (16 bits hold ±32767); use `accumulator: 32`",
                b.bound
            ));
        } else if b.bound > i32::MAX as i64 {
            w.push(format!(
                "layer {name} can reach {} over the declared input range, beyond a 32-bit accumulator",
                b.bound
            ));
        }
        if b.out_bound > i16::MAX as i64 {
            w.push(format!(
                "layer {name}'s activations can reach {} after the shift and wrap in int16 (a worst case over every input in the declared range; `zlmc quantize` and `import` choose shifts that avoid it)",
                b.out_bound
            ));
        }
    }
    w
}
