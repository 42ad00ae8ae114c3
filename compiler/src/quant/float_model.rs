//! A float MLP as importers produce it and quantizers consume it: the meeting
//! point of `zlmc import onnx` (which writes one) and `zlmc quantize` (which
//! turns one into an integer model).

use zlmc_ir::{Shape, Window};

pub use crate::frontend::quantize::LayerKindOf;

/// A float non-linearity, as the source framework defines it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FloatActivation {
    /// The identity.
    None,
    /// `max(0, x)`.
    Relu,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + e^−x)`.
    Sigmoid,
    /// `x` when `x ≥ 0`, else `alpha·x`.
    LeakyRelu {
        /// Slope below zero.
        alpha: f32,
    },
    /// `min(max(x, min), max)`: ReLU6 is `Clip { min: 0, max: 6 }`.
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// `max(0, min(1, alpha·x + beta))` (ONNX's defaults: 0.2 and 0.5).
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// `x · HardSigmoid(x)` with `alpha = 1/6`, `beta = 0.5`.
    HardSwish,
    /// `x·Φ(x)`; with `tanh`, its tanh approximation.
    Gelu {
        /// Whether the tanh approximation is meant.
        tanh: bool,
    },
}

impl FloatActivation {
    /// The activation of `x`, computed in f64 and rounded to f32.
    pub fn apply(self, x: f32) -> f32 {
        let v = x as f64;
        let y = match self {
            FloatActivation::None => v,
            FloatActivation::Relu => v.max(0.0),
            FloatActivation::Tanh => v.tanh(),
            FloatActivation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            FloatActivation::LeakyRelu { alpha } => {
                if v >= 0.0 {
                    v
                } else {
                    alpha as f64 * v
                }
            }
            FloatActivation::Clip { min, max } => v.max(min as f64).min(max as f64),
            FloatActivation::HardSigmoid { alpha, beta } => {
                (alpha as f64 * v + beta as f64).clamp(0.0, 1.0)
            }
            FloatActivation::HardSwish => v * (v / 6.0 + 0.5).clamp(0.0, 1.0),
            FloatActivation::Gelu { tanh: false } => 0.5 * v * (1.0 + libm::erf(v / 2f64.sqrt())),
            FloatActivation::Gelu { tanh: true } => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh())
            }
        };
        y as f32
    }

    /// Whether applying it twice is applying it once (so a repeat folds away).
    pub fn is_idempotent(self) -> bool {
        matches!(
            self,
            FloatActivation::None | FloatActivation::Relu | FloatActivation::Clip { .. }
        )
    }
}

/// What a float layer computes; `FloatLayer`'s weight and bias serve every kind.
pub type FloatLayerKind = LayerKindOf<FloatDivisor>;

/// A float average pool's division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatDivisor {
    /// Whether padded elements count in the divisor: by the kernel's area
    /// when true (PyTorch's default), by the in-bounds elements when false
    /// (ONNX's default).
    pub count_pad: bool,
}

/// One layer: a dense layer `y = act(W·x + b)`, a convolution or a pooling, in f32.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatLayer {
    /// What the layer computes.
    pub kind: FloatLayerKind,
    /// Weights, `[units][inputs]` (row per output unit, PyTorch's order); for a
    /// convolution a row per output channel; empty for pools.
    pub weight: Vec<Vec<f32>>,
    /// Bias per output unit (per output channel for a convolution; empty for pools).
    pub bias: Vec<f32>,
    /// The non-linearity after the sum.
    pub activation: FloatActivation,
}

impl FloatLayer {
    /// Number of outputs (the flat length of a map).
    pub fn units(&self) -> usize {
        match self.output_shape() {
            Some(s) => s.len(),
            None => self.bias.len(),
        }
    }

    /// Number of inputs (the flat length of a map).
    pub fn inputs(&self) -> usize {
        match self.kind {
            FloatLayerKind::Dense => self.weight.first().map_or(0, Vec::len),
            FloatLayerKind::Conv { input, .. }
            | FloatLayerKind::MaxPool { input, .. }
            | FloatLayerKind::AvgPool { input, .. } => input.len(),
        }
    }

    /// The input map's shape and window, for convolutions and pools.
    pub fn map_input(&self) -> Option<(Shape, Window)> {
        self.kind.map_input()
    }

    /// The output map's shape, for convolutions and pools (`None` for dense
    /// layers, and for a window that does not fit its input).
    pub fn output_shape(&self) -> Option<Shape> {
        let (input, window) = self.map_input()?;
        let channels = match self.kind {
            FloatLayerKind::Conv { .. } => self.weight.len(),
            _ => input.channels,
        };
        window.map_over(input, channels).ok()
    }

    /// Why the layer's parts do not fit together, if they do not.
    pub fn check(&self) -> Result<(), String> {
        let Some((input, window)) = self.map_input() else {
            let n = self.inputs();
            if self.weight.len() != self.bias.len() || self.weight.iter().any(|r| r.len() != n) {
                return Err("weight rows and bias do not match".into());
            }
            return Ok(());
        };
        if input.is_empty() {
            return Err(format!("empty input map [{input}]"));
        }
        if input.is_1d() && (window.kernel[0] != 1 || window.stride[0] != 1) {
            return Err("a 1-D map's window has height 1 and stride 1".into());
        }
        window.output(input.height, input.width)?;
        match self.kind {
            FloatLayerKind::Conv { groups, .. } => {
                let out = self.weight.len();
                if groups == 0
                    || !input.channels.is_multiple_of(groups)
                    || !out.is_multiple_of(groups)
                    || out == 0
                {
                    return Err(format!(
                        "{out} output and {} input channels do not split into {groups} groups",
                        input.channels
                    ));
                }
                let cols = input.channels / groups * window.kernel[0] * window.kernel[1];
                if self.weight.iter().any(|r| r.len() != cols) || self.bias.len() != out {
                    return Err(format!(
                        "a convolution weight needs [{out}, {cols}] and its bias [{out}]"
                    ));
                }
            }
            _ if !self.weight.is_empty() || !self.bias.is_empty() => {
                return Err("a pooling layer has no weight or bias".into());
            }
            _ => {}
        }
        Ok(())
    }

    /// The layer's outputs for `x`, in f32 (the layer must pass `check`).
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        self.sums(x)
            .into_iter()
            .map(|s| self.activation.apply(s))
            .collect()
    }

    /// What the layer computes before its activation: the sums with the bias,
    /// or the pooled values.
    pub fn sums(&self, x: &[f32]) -> Vec<f32> {
        match self.kind {
            FloatLayerKind::Dense => self
                .weight
                .iter()
                .zip(&self.bias)
                .map(|(row, &b)| row.iter().zip(x).fold(b, |acc, (&w, &v)| acc + w * v))
                .collect(),
            FloatLayerKind::Conv {
                input,
                window,
                groups,
            } => self.conv(x, input, window, groups),
            FloatLayerKind::MaxPool { input, window } => pool(x, input, window, |vals, _| {
                vals.fold(f32::NEG_INFINITY, f32::max)
            }),
            FloatLayerKind::AvgPool {
                input,
                window,
                divisor: FloatDivisor { count_pad },
            } => {
                let area = (window.kernel[0] * window.kernel[1]) as f32;
                pool(x, input, window, |vals, inside| {
                    let sum: f32 = vals.sum();
                    sum / if count_pad { area } else { inside as f32 }
                })
            }
        }
    }

    /// Whether the layer reads its input's zero padding as a value (a padded
    /// convolution or average pool): its input's zero point must then be 0,
    /// since integer padding reads 0.
    pub fn reads_padding(&self) -> bool {
        match self.kind {
            FloatLayerKind::Conv { window, .. } | FloatLayerKind::AvgPool { window, .. } => {
                window.pads.iter().any(|&p| p > 0)
            }
            _ => false,
        }
    }

    /// Channel groups: a convolution's, 1 for every other layer.
    pub fn groups(&self) -> usize {
        match self.kind {
            FloatLayerKind::Conv { groups, .. } => groups,
            _ => 1,
        }
    }

    /// Whether the layer is a pool (no weights).
    pub fn is_pool(&self) -> bool {
        self.kind.is_pool()
    }

    /// A convolution's sums (bias included) over the map `x`.
    fn conv(&self, x: &[f32], input: Shape, window: Window, groups: usize) -> Vec<f32> {
        let out = self.output_shape().expect("checked convolution");
        let per_group_in = input.channels / groups;
        let per_group_out = out.channels / groups;
        let [kh, kw] = window.kernel;
        let mut y = Vec::with_capacity(out.len());
        for (o, (row, &b)) in self.weight.iter().zip(&self.bias).enumerate() {
            let first = o / per_group_out * per_group_in;
            for oy in 0..out.height {
                for ox in 0..out.width {
                    let mut s = b;
                    for ci in 0..per_group_in {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                if let Some(i) = at(input, window, first + ci, oy, ox, ky, kx) {
                                    s += row[(ci * kh + ky) * kw + kx] * x[i];
                                }
                            }
                        }
                    }
                    y.push(s);
                }
            }
        }
        y
    }
}

/// The flat index of window element (`ky`, `kx`) of output (`oy`, `ox`) in
/// channel `c`, or `None` when it falls in the padding.
pub(crate) fn at(
    input: Shape,
    window: Window,
    c: usize,
    oy: usize,
    ox: usize,
    ky: usize,
    kx: usize,
) -> Option<usize> {
    let y = (oy * window.stride[0] + ky).checked_sub(window.pads[0])?;
    let x = (ox * window.stride[1] + kx).checked_sub(window.pads[1])?;
    (y < input.height && x < input.width).then(|| (c * input.height + y) * input.width + x)
}

/// A pooling over every channel of `x`: `reduce` gets each window's in-bounds
/// values and how many there are.
fn pool(
    x: &[f32],
    input: Shape,
    window: Window,
    reduce: impl Fn(&mut dyn Iterator<Item = f32>, usize) -> f32,
) -> Vec<f32> {
    let (height, width) = window
        .output(input.height, input.width)
        .expect("checked pooling");
    let [kh, kw] = window.kernel;
    let mut y = Vec::with_capacity(input.channels * height * width);
    for c in 0..input.channels {
        for oy in 0..height {
            for ox in 0..width {
                let idx: Vec<usize> = (0..kh)
                    .flat_map(|ky| (0..kw).map(move |kx| (ky, kx)))
                    .filter_map(|(ky, kx)| at(input, window, c, oy, ox, ky, kx))
                    .collect();
                let mut vals = idx.iter().map(|&i| x[i]);
                y.push(reduce(&mut vals, idx.len()));
            }
        }
    }
    y
}

/// A chain of layers (dense, convolutions, pools) over a raw float feature vector.
///
/// Input normalization found in the source graph (scalers, `Sub`/`Mul`/`Div` by
/// constants) is already folded into the first layer, so `layers[0]` takes the
/// features exactly as the user's original model took them.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatMlp {
    /// Model name (a C identifier).
    pub name: String,
    /// Length of the feature vector.
    pub inputs: usize,
    /// The layers, first to last.
    pub layers: Vec<FloatLayer>,
    /// Class labels, one per output of the last layer, when the source had them.
    pub labels: Option<Vec<String>>,
    /// What the last layer's outputs are.
    pub output: FloatOutput,
}

/// What a float model's last layer gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatOutput {
    /// Class scores: the answer is the first index of the largest.
    Classes,
    /// Values (regression, scores): the answer is the vector itself.
    Values,
}

impl FloatMlp {
    /// The last layer's outputs (the logits) for one feature vector, in f32.
    pub fn eval(&self, features: &[f32]) -> Vec<f32> {
        let mut x = features.to_vec();
        for l in &self.layers {
            x = l.forward(&x);
        }
        x
    }

    /// The predicted class: the first index of the largest logit.
    pub fn predict(&self, features: &[f32]) -> usize {
        let logits = self.eval(features);
        let mut best = 0;
        for (i, &v) in logits.iter().enumerate() {
            if v > logits[best] {
                best = i;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(kernel: [usize; 2], stride: [usize; 2], pads: [usize; 4]) -> Window {
        Window {
            kernel,
            stride,
            pads,
        }
    }

    fn shape(channels: usize, height: usize, width: usize) -> Shape {
        Shape {
            channels,
            height,
            width,
        }
    }

    fn layer(kind: FloatLayerKind, weight: Vec<Vec<f32>>, bias: Vec<f32>) -> FloatLayer {
        let l = FloatLayer {
            kind,
            weight,
            bias,
            activation: FloatActivation::None,
        };
        l.check().expect("a well-formed layer");
        l
    }

    /// The 3×3 map 1 … 9, row by row.
    fn nine() -> Vec<f32> {
        (1..=9).map(|v| v as f32).collect()
    }

    #[test]
    fn conv_without_padding_slides_the_kernel() {
        let kind = FloatLayerKind::Conv {
            input: shape(1, 3, 3),
            window: window([2, 2], [1, 1], [0; 4]),
            groups: 1,
        };
        // in[y][x] − in[y+1][x+1] = −4 everywhere, plus the bias.
        let l = layer(kind, vec![vec![1.0, 0.0, 0.0, -1.0]], vec![0.5]);
        assert_eq!(l.output_shape(), Some(shape(1, 2, 2)));
        assert_eq!(l.forward(&nine()), vec![-3.5; 4]);
    }

    #[test]
    fn padded_conv_reads_zero_outside_and_strides() {
        let kind = FloatLayerKind::Conv {
            input: shape(1, 3, 3),
            window: window([3, 3], [2, 2], [1; 4]),
            groups: 1,
        };
        let l = layer(kind, vec![vec![1.0; 9]], vec![0.0]);
        // Outputs at (0,0), (0,2), (2,0), (2,2): each a 2×2 corner of the map.
        assert_eq!(l.forward(&nine()), vec![12.0, 16.0, 24.0, 28.0]);
        assert_eq!(l.units(), 4);
        assert_eq!(l.inputs(), 9);
    }

    #[test]
    fn grouped_conv_reads_its_own_channels() {
        // Depthwise over two 1-D channels of length 3, kernel 2, two outputs per channel.
        let kind = FloatLayerKind::Conv {
            input: shape(2, 1, 3),
            window: window([1, 2], [1, 1], [0; 4]),
            groups: 2,
        };
        let w = vec![
            vec![1.0, 1.0],
            vec![1.0, -1.0],
            vec![2.0, 0.0],
            vec![0.0, 3.0],
        ];
        let l = layer(kind, w, vec![0.0, 0.0, 0.0, 1.0]);
        let x = [1.0, 2.0, 4.0, 10.0, 20.0, 40.0];
        assert_eq!(
            l.forward(&x),
            vec![3.0, 6.0, -1.0, -2.0, 20.0, 40.0, 61.0, 121.0]
        );
    }

    #[test]
    fn max_pool_never_picks_padding() {
        let kind = FloatLayerKind::MaxPool {
            input: shape(1, 3, 3),
            window: window([2, 2], [2, 2], [1, 1, 0, 0]),
        };
        let l = layer(kind, vec![], vec![]);
        let x: Vec<f32> = nine().iter().map(|v| -v).collect();
        assert_eq!(l.forward(&x), vec![-1.0, -2.0, -4.0, -5.0]);
    }

    #[test]
    fn avg_pool_divides_by_what_count_pad_says() {
        let w = window([2, 2], [2, 2], [1, 1, 0, 0]);
        let input = shape(1, 3, 3);
        let inside = layer(
            FloatLayerKind::AvgPool {
                input,
                window: w,
                divisor: FloatDivisor { count_pad: false },
            },
            vec![],
            vec![],
        );
        let area = layer(
            FloatLayerKind::AvgPool {
                input,
                window: w,
                divisor: FloatDivisor { count_pad: true },
            },
            vec![],
            vec![],
        );
        assert_eq!(inside.forward(&nine()), vec![1.0, 2.5, 5.5, 7.0]);
        assert_eq!(area.forward(&nine()), vec![0.25, 1.25, 2.75, 7.0]);
    }

    #[test]
    fn check_refuses_mismatched_parts() {
        let kind = FloatLayerKind::Conv {
            input: shape(3, 4, 4),
            window: window([3, 3], [1, 1], [0; 4]),
            groups: 2,
        };
        let l = FloatLayer {
            kind,
            weight: vec![vec![0.0; 27]; 4],
            bias: vec![0.0; 4],
            activation: FloatActivation::None,
        };
        assert!(l.check().unwrap_err().contains("groups"));
        let pool = FloatLayer {
            kind: FloatLayerKind::MaxPool {
                input: shape(1, 2, 2),
                window: window([3, 3], [1, 1], [0; 4]),
            },
            weight: vec![],
            bias: vec![],
            activation: FloatActivation::None,
        };
        assert!(pool.check().unwrap_err().contains("larger"));
    }
}
