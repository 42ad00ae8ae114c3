//! From loaded tensors to integer layer data: find each layer's tensors,
//! check shapes and value ranges, and round float tensors when asked to.

use std::path::Path;

use zlmc_ir::{DenseWeights, Elem, Shape, WeightKind, Window};

use super::layers::{avg_divisor, Geometry};
use super::spec::{LayerSpec, PathStep, Quantize, Spec};
use super::tensors::{Tensor, TensorData, TensorMap};
use super::Checked;
use crate::diag::{Diagnostic, Result};

/// One layer's integer parameters.
#[derive(Debug, Clone)]
pub struct LayerData {
    /// Weights `[units × inputs]` (a convolution's `[filters × (C/groups)·kh·kw]`;
    /// none for a pool).
    pub weights: DenseWeights,
    /// Bias per unit (per output channel for a convolution), in accumulator range.
    pub bias: Vec<i64>,
    /// Right shift after the bias.
    pub shift: u32,
    /// The activation after the shift, if any.
    pub activation: Option<zlmc_ir::Activation>,
}

impl LayerData {
    /// A pool's data: no weights, no bias, no shift; only the activation.
    pub fn pool(kind: WeightKind, activation: Option<zlmc_ir::Activation>) -> LayerData {
        LayerData {
            weights: DenseWeights {
                kind,
                rows: 0,
                cols: 0,
                data: Vec::new(),
            },
            bias: Vec::new(),
            shift: 0,
            activation,
        }
    }
}

/// What a layer computes, whatever its numbers are: the integer layers'
/// [`LayerKind`] and the float models' `FloatLayerKind` differ only in how
/// an average pool divides (`D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKindOf<D> {
    /// `W·x`, then the epilogue.
    Dense,
    /// A convolution over an `input` map (weights one row per output
    /// channel, `(C/groups)·kh·kw` columns in the IR's order; bias per output
    /// channel; output channel-major).
    Conv {
        /// Input map.
        input: Shape,
        /// Kernel, stride, zero padding.
        window: Window,
        /// Channel groups (`input.channels` for depthwise).
        groups: usize,
    },
    /// Max pooling (no weights; padding never wins), then the activation.
    MaxPool {
        /// Input map.
        input: Shape,
        /// Window.
        window: Window,
    },
    /// Average pooling, then the activation.
    AvgPool {
        /// Input map.
        input: Shape,
        /// Window.
        window: Window,
        /// How the window's sum is divided.
        divisor: D,
    },
}

/// An integer average pool's division: `Σ · mul >> shift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgDivisor {
    /// Multiplier (1..=255).
    pub mul: u8,
    /// Right shift.
    pub shift: u32,
}

/// What an integer layer computes with its [`LayerData`].
pub type LayerKind = LayerKindOf<AvgDivisor>;

impl<D> LayerKindOf<D> {
    /// The input map's shape and window, for convolutions and pools.
    pub fn map_input(&self) -> Option<(Shape, Window)> {
        match *self {
            LayerKindOf::Dense => None,
            LayerKindOf::Conv { input, window, .. }
            | LayerKindOf::MaxPool { input, window }
            | LayerKindOf::AvgPool { input, window, .. } => Some((input, window)),
        }
    }

    /// Whether it is a pool (no weights).
    pub fn is_pool(&self) -> bool {
        matches!(
            self,
            LayerKindOf::MaxPool { .. } | LayerKindOf::AvgPool { .. }
        )
    }

    /// The same layer with an average pool's divisor made by `divide` from
    /// its window and divisor.
    pub fn with_divisor<E>(self, divide: impl FnOnce(Window, D) -> E) -> LayerKindOf<E> {
        match self {
            LayerKindOf::Dense => LayerKindOf::Dense,
            LayerKindOf::Conv {
                input,
                window,
                groups,
            } => LayerKindOf::Conv {
                input,
                window,
                groups,
            },
            LayerKindOf::MaxPool { input, window } => LayerKindOf::MaxPool { input, window },
            LayerKindOf::AvgPool {
                input,
                window,
                divisor,
            } => LayerKindOf::AvgPool {
                input,
                window,
                divisor: divide(window, divisor),
            },
        }
    }
}

/// One checked layer: what it computes, its integers, its accumulator.
#[derive(Debug, Clone)]
pub struct Layer {
    /// What it computes.
    pub kind: LayerKind,
    /// Its integers.
    pub data: LayerData,
    /// Its accumulator.
    pub acc: Elem,
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
) -> Result<Vec<Layer>> {
    let mut out = Vec::new();
    for &(i, geometry) in &checked.plan {
        let l = &spec.layers[i];
        let at = [PathStep::Key("layers"), PathStep::Item(i)];
        let activation = l
            .activation
            .to_integer()
            .map_err(|m| err(&[at[0], at[1], PathStep::Key("activation")], m))?;
        let acc = checked.layer_accs[i];
        let pool = |kind| Layer {
            kind,
            data: LayerData::pool(checked.kind, activation.clone()),
            acc,
        };
        let kind = layer_kind(l, geometry)
            .map_err(|(key, m)| err(&[at[0], at[1], PathStep::Key(key)], m))?;
        let Some((rows, cols)) = geometry.weight_matrix() else {
            out.push(pool(kind));
            continue;
        };
        let wt = find(tensors, l.weight.as_deref(), &l.name, "weight")
            .map_err(|names| missing(err, &at, weights_path, &names, tensors))?;
        let bt = find(tensors, l.bias.as_deref(), &l.name, "bias")
            .map_err(|names| missing(err, &at, weights_path, &names, tensors))?;
        let (wname, wt) = wt;
        let (bname, bt) = bt;
        let shapes = geometry.weight_shapes();
        if !shapes.contains(&wt.shape) {
            let want: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
            return Err(err(
                &at,
                format!(
                    "tensor `{wname}` in {} has shape {:?}, but layer {} needs {} ({})",
                    weights_path.display(),
                    wt.shape,
                    l.name,
                    want.join(" or "),
                    match geometry {
                        Geometry::Dense { .. } => "[units, inputs]",
                        _ => "[filters, in_channels/groups, kernel…]",
                    }
                ),
            ));
        }
        if bt.shape != [rows] {
            return Err(err(
                &at,
                format!(
                    "tensor `{bname}` in {} has shape {:?}, but layer {} needs [{rows}]",
                    weights_path.display(),
                    bt.shape,
                    l.name,
                ),
            ));
        }
        let data = weight_values(wname, wt, checked.kind, spec, weights_path, cols)
            .map_err(|m| err(&at, m))?;
        let bias = bias_values(bname, bt, acc, spec, weights_path).map_err(|m| err(&at, m))?;
        out.push(Layer {
            kind,
            data: LayerData {
                weights: DenseWeights {
                    kind: checked.kind,
                    rows,
                    cols,
                    data,
                },
                bias,
                shift: l.shift,
                activation,
            },
            acc,
        });
    }
    Ok(out)
}

/// What spec layer `l` of `geometry` computes; for an average pool whose
/// `mul`/`shift` are wrong, the key at fault and why.
pub fn layer_kind(
    l: &LayerSpec,
    geometry: Geometry,
) -> std::result::Result<LayerKind, (&'static str, String)> {
    Ok(match geometry {
        Geometry::Dense { .. } => LayerKind::Dense,
        Geometry::Conv {
            input,
            window,
            groups,
            ..
        } => LayerKind::Conv {
            input,
            window,
            groups,
        },
        Geometry::MaxPool { input, window } => LayerKind::MaxPool { input, window },
        Geometry::AvgPool { input, window } => {
            let (mul, shift) = avg_factors(l, window)?;
            LayerKind::AvgPool {
                input,
                window,
                divisor: AvgDivisor { mul, shift },
            }
        }
    })
}

/// An integer average pooling's `mul` and `shift`: the spec's, or the
/// closest to dividing by the window's area; the key at fault if wrong.
fn avg_factors(
    l: &LayerSpec,
    window: Window,
) -> std::result::Result<(u8, u32), (&'static str, String)> {
    let (key, mul, shift, count_pad) = match (&l.avgpool, &l.global_avgpool) {
        (Some(p), _) => ("avgpool", p.mul, p.shift, p.count_pad),
        (None, Some(g)) => ("global_avgpool", g.mul, g.shift, None),
        (None, None) => unreachable!("an average pool has one of the keys"),
    };
    if count_pad.is_some() {
        return Err((
            key,
            "`count_pad` is for float specs; an integer average pool divides by `mul`/`shift`"
                .into(),
        ));
    }
    let (dm, ds) = avg_divisor(window.kernel[0] * window.kernel[1]);
    let (mul, shift) = (mul.unwrap_or(u32::from(dm)), shift.unwrap_or(ds));
    match u8::try_from(mul) {
        Ok(m) if m >= 1 && shift <= 31 => Ok((m, shift)),
        _ => Err((
            key,
            format!("average pooling needs 1 <= mul <= 255 and shift <= 31, has mul {mul}, shift {shift}"),
        )),
    }
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

/// A tensor's values as integers: stored integers each checked by `check`
/// (given its flat index; an error message without the tensor's name),
/// float values rounded by `round` with the spec's scales.
fn integer_values<T>(
    name: &str,
    t: &Tensor,
    spec: &Spec,
    file: &Path,
    check: impl Fn(usize, i64) -> std::result::Result<T, String>,
    round: impl Fn(&Quantize, f64) -> T,
) -> std::result::Result<Vec<T>, String> {
    match &t.data {
        TensorData::Int(v) => v
            .iter()
            .enumerate()
            .map(|(i, &x)| check(i, x))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| format!("tensor `{name}` in {}: {e}", file.display())),
        TensorData::Float(v) => {
            let q = spec
                .numerics
                .quantize
                .as_ref()
                .ok_or_else(|| quantize_needed(name, t))?;
            Ok(v.iter().map(|&x| round(q, x)).collect())
        }
        TensorData::Bytes(_) => Err(format!("tensor `{name}` holds bytes, not numbers")),
    }
}

fn weight_values(
    name: &str,
    t: &Tensor,
    kind: WeightKind,
    spec: &Spec,
    file: &Path,
    cols: usize,
) -> std::result::Result<Vec<i8>, String> {
    let (lo, hi) = kind.range();
    let check = |i: usize, w: i64| {
        if kind.allows(w) {
            Ok(w as i8)
        } else {
            Err(format!(
                "value {w} at [{}, {}] is not an {kind} weight ({kind} allows {})",
                i / cols,
                i % cols,
                if kind == WeightKind::Binary {
                    "-1 and +1".to_string()
                } else {
                    format!("{lo}..={hi}")
                }
            ))
        }
    };
    let round = |q: &Quantize, w: f64| {
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
    };
    integer_values(name, t, spec, file, check, round)
}

fn bias_values(
    name: &str,
    t: &Tensor,
    acc: Elem,
    spec: &Spec,
    file: &Path,
) -> std::result::Result<Vec<i64>, String> {
    let check = |i: usize, b: i64| {
        if acc.wrap(b) == b {
            Ok(b)
        } else {
            Err(format!(
                "bias {b} at [{i}] does not fit the {}-bit accumulator",
                acc.bits()
            ))
        }
    };
    let lim = (1i64 << (acc.bits() - 1)) as f64;
    let round = |q: &Quantize, b: f64| (b * q.bias_scale).round().clamp(-lim, lim - 1.0) as i64;
    integer_values(name, t, spec, file, check, round)
}
