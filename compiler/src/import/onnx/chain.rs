//! The dense layers found so far plus the affine map applied since the last
//! activation: how constant arithmetic is folded into layers exactly.
//!
//! Every linear op of the source graph (MatMul, Gemm, Add/Sub/Mul/Div by a
//! constant, Scaler, BatchNormalization) composes into the pending affine map
//! in f64; an activation or the end of the graph turns the pending map into
//! one `FloatLayer`. So input
//! normalization before the first MatMul becomes `w' = w·s`, `b' = b + w·t`,
//! and a bias `Add` after a MatMul becomes that layer's bias.
//!
//! A convolution is pending the same way: a per-channel scale and shift after
//! it (its bias, a batch normalization) folds into its kernels and bias, and
//! an input scale per channel before it into its kernels. Pooling ends the
//! pending map and is a layer of its own.

/// The most weights a layer the chain builds may have: the IR's limit, so a
/// small file cannot make the importer allocate more than a model can hold.
const MAX_ELEMENTS: usize = zlmc_ir::verify::limits::MAX_WEIGHTS;
use crate::quant::float_model::{FloatActivation, FloatDivisor, FloatLayer, FloatLayerKind};
use zlmc_ir::{Shape, Window};

/// The affine map `y = A·x + c` from the last layer's output (or the graph
/// input) to the current value.
#[derive(Debug, Clone, PartialEq)]
enum Affine {
    /// `A` is diagonal: `y[i] = scale[i]·x[i] + shift[i]` (no matrix allocated,
    /// so a huge declared input costs nothing until a weight needs it).
    Diag { scale: Vec<f64>, shift: Vec<f64> },
    /// `A` is dense, `[outputs][inputs]`.
    Dense { a: Vec<Vec<f64>>, c: Vec<f64> },
    /// `A` is a convolution (weight `[out channels][(C/groups)·kh·kw]`, bias
    /// per output channel) over a map of `conv.input` shape.
    Conv(Box<PendingConv>),
}

/// A convolution not yet ended by an activation.
#[derive(Debug, Clone, PartialEq)]
struct PendingConv {
    input: Shape,
    window: Window,
    groups: usize,
    output: Shape,
    weight: Vec<Vec<f64>>,
    bias: Vec<f64>,
}

/// A convolution as the graph gives it, for [`Chain::conv`].
pub struct ConvSpec {
    /// The input map's shape (channel-major).
    pub input: Shape,
    /// Kernel, stride and padding.
    pub window: Window,
    /// Channel groups.
    pub groups: usize,
    /// `[out channels][(C/groups)·kh·kw]`, the IR's column order.
    pub weight: Vec<Vec<f64>>,
    /// One per output channel.
    pub bias: Vec<f64>,
}

/// The pooling of [`Chain::pool`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pool {
    /// The largest in-bounds element.
    Max,
    /// The mean, padding counted in the divisor or not.
    Avg {
        /// Whether padded elements count.
        count_pad: bool,
    },
}

/// Layers so far and the pending affine map.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// Length of the graph's input vector.
    pub inputs: usize,
    /// Finished layers.
    pub layers: Vec<FloatLayer>,
    pending: Affine,
}

impl Chain {
    /// The identity on an input of `inputs` values.
    pub fn new(inputs: usize) -> Chain {
        Chain {
            inputs,
            layers: Vec::new(),
            pending: identity(inputs),
        }
    }

    /// Length of the current value.
    pub fn width(&self) -> usize {
        match &self.pending {
            Affine::Diag { shift, .. } => shift.len(),
            Affine::Dense { c, .. } => c.len(),
            Affine::Conv(p) => p.output.len(),
        }
    }

    /// `y[i] = x[i]·mul[i] + add[i]` (both of length `width()`); after a
    /// convolution both must be constant over each channel, as they fold
    /// into its kernels and bias.
    pub fn scale_shift(&mut self, mul: &[f64], add: &[f64]) -> Result<(), String> {
        match &mut self.pending {
            Affine::Conv(p) => {
                let plane = p.output.plane();
                for (o, (row, b)) in p.weight.iter_mut().zip(&mut p.bias).enumerate() {
                    let at = o * plane..(o + 1) * plane;
                    let (m, k) = (&mul[at.clone()], &add[at]);
                    if m.iter().any(|&v| v != m[0]) || k.iter().any(|&v| v != k[0]) {
                        return Err(format!(
                            "a scale or shift that differs within output channel {o} of a \
                             convolution does not fold into it (only one per channel does, \
                             as a bias or a batch normalization)"
                        ));
                    }
                    row.iter_mut().for_each(|w| *w *= m[0]);
                    *b = *b * m[0] + k[0];
                }
            }
            Affine::Diag { scale, shift } => {
                for i in 0..shift.len() {
                    scale[i] *= mul[i];
                    shift[i] = shift[i] * mul[i] + add[i];
                }
            }
            Affine::Dense { a, c } => {
                for i in 0..c.len() {
                    a[i].iter_mut().for_each(|v| *v *= mul[i]);
                    c[i] = c[i] * mul[i] + add[i];
                }
            }
        }
        Ok(())
    }

    /// `y = W·x` for `W` as `[outputs][width()]`; errors if the composed map is too big.
    pub fn matmul(&mut self, w: &[Vec<f64>]) -> Result<(), String> {
        let n = w.len();
        if matches!(self.pending, Affine::Conv(_)) {
            // A dense layer straight after a convolution: two layers.
            self.close(FloatActivation::None)?;
        }
        self.pending = match &self.pending {
            Affine::Conv(_) => unreachable!("closed above"),
            Affine::Diag { scale, shift } => Affine::Dense {
                a: w.iter()
                    .map(|row| row.iter().zip(scale).map(|(w, s)| w * s).collect())
                    .collect(),
                c: w.iter().map(|row| dot(row, shift)).collect(),
            },
            Affine::Dense { a, c } => {
                let m = a.first().map_or(0, Vec::len);
                if n.checked_mul(m).is_none_or(|s| s > MAX_ELEMENTS) {
                    return Err(format!(
                        "composing two linear layers with no activation between gives a \
                         {n}×{m} matrix, over the limit of {MAX_ELEMENTS} elements"
                    ));
                }
                let mut out = vec![vec![0.0; m]; n];
                for (o, row) in out.iter_mut().zip(w) {
                    for (&wk, ak) in row.iter().zip(a) {
                        o.iter_mut().zip(ak).for_each(|(o, &v)| *o += wk * v);
                    }
                }
                Affine::Dense {
                    a: out,
                    c: w.iter().map(|row| dot(row, c)).collect(),
                }
            }
        };
        Ok(())
    }

    /// `y[i] = mul·x[i] + add` for every element alike.
    pub fn affine(&mut self, mul: f64, add: f64) -> Result<(), String> {
        let n = self.width();
        self.scale_shift(&vec![mul; n], &vec![add; n])
    }

    /// A convolution of the current value, a map of `c.input` shape. A
    /// pending scale per input channel folds into its kernels, and a shift
    /// per channel into its bias when it has no padding (padding reads zeros
    /// of the scaled input, which a folded shift would not see).
    pub fn conv(&mut self, c: ConvSpec) -> Result<(), String> {
        let ConvSpec {
            input,
            window,
            groups,
            mut weight,
            mut bias,
        } = c;
        let output = window.map_over(input, weight.len())?;
        if output.len() > zlmc_ir::verify::limits::MAX_VECTOR {
            return Err(format!(
                "the convolution's output has {} values, over the limit of {}",
                output.len(),
                zlmc_ir::verify::limits::MAX_VECTOR
            ));
        }
        if !matches!(self.pending, Affine::Diag { .. }) {
            self.close(FloatActivation::None)?;
        }
        let Affine::Diag { scale, shift } = &self.pending else {
            unreachable!("closed above");
        };
        let plane = input.plane();
        let per_channel = |v: &[f64]| -> Option<Vec<f64>> {
            let vals: Vec<f64> = v.chunks(plane.max(1)).map(|ch| ch[0]).collect();
            v.chunks(plane.max(1))
                .all(|ch| ch.iter().all(|&x| x == ch[0]))
                .then_some(vals)
        };
        let (Some(s), Some(t)) = (per_channel(scale), per_channel(shift)) else {
            return Err(
                "a scale or shift per element before a convolution does not fold into it \
                 (one per channel does)"
                    .into(),
            );
        };
        let padded = window.pads.iter().any(|&p| p > 0);
        if padded && t.iter().any(|&v| v != 0.0) {
            return Err(
                "a shift of the input before a padded convolution does not fold into it \
                 exactly (the padding reads zeros of the shifted input); normalize the \
                 features outside the model, or convolve without padding"
                    .into(),
            );
        }
        let (cin, cout) = (input.channels / groups, output.channels / groups);
        let taps = window.kernel[0] * window.kernel[1];
        for (o, row) in weight.iter_mut().enumerate() {
            let first = o / cout.max(1) * cin;
            for (k, w) in row.iter_mut().enumerate() {
                let ch = first + k / taps;
                bias[o] += *w * t[ch];
                *w *= s[ch];
            }
        }
        self.pending = Affine::Conv(Box::new(PendingConv {
            input,
            window,
            groups,
            output,
            weight,
            bias,
        }));
        Ok(())
    }

    /// A pooling of the current value, a map of `input` shape: a layer of
    /// its own, after whatever is pending. Errors if a scale or shift per
    /// element is pending (it has no layer to fold into).
    pub fn pool(&mut self, input: Shape, window: Window, pool: Pool) -> Result<Shape, String> {
        let output = window.map_over(input, input.channels)?;
        match &self.pending {
            Affine::Diag { scale, shift }
                if !(scale.iter().all(|&s| s == 1.0) && shift.iter().all(|&t| t == 0.0)) =>
            {
                return Err(
                    "a scale or shift right before a pooling does not fold into a layer; \
                     zlmc folds it into a convolution or dense layer before it or after it"
                        .into(),
                );
            }
            _ => self.close(FloatActivation::None)?,
        }
        let kind = match pool {
            Pool::Max => FloatLayerKind::MaxPool { input, window },
            Pool::Avg { count_pad } => FloatLayerKind::AvgPool {
                input,
                window,
                divisor: FloatDivisor { count_pad },
            },
        };
        self.layers.push(FloatLayer {
            kind,
            weight: Vec::new(),
            bias: Vec::new(),
            activation: FloatActivation::None,
        });
        self.pending = identity(output.len());
        Ok(output)
    }

    /// End the pending map with an activation.
    pub fn activate(&mut self, act: FloatActivation) -> Result<(), String> {
        self.close(act)
    }

    /// End the chain: the pending map becomes the last layer (without ReLU) if
    /// it does anything. Errors if the graph had no layer at all.
    pub fn finish(mut self) -> Result<Vec<FloatLayer>, String> {
        self.close(FloatActivation::None)?;
        if self.layers.iter().all(|l| l.weight.is_empty()) {
            return Err("the graph has no layer with weights (MatMul, Gemm or Conv)".into());
        }
        Ok(self.layers)
    }

    /// Turn the pending map into a layer (or fold it into the previous one).
    fn close(&mut self, act: FloatActivation) -> Result<(), String> {
        let width = self.width();
        let pending = std::mem::replace(&mut self.pending, identity(width));
        match pending {
            Affine::Dense { a, c } => self.layers.push(layer(a, c, act)),
            Affine::Conv(p) => self.layers.push(FloatLayer {
                kind: FloatLayerKind::Conv {
                    input: p.input,
                    window: p.window,
                    groups: p.groups,
                },
                ..layer(p.weight, p.bias, act)
            }),
            Affine::Diag { scale, shift } => {
                let is_identity =
                    scale.iter().all(|&s| s == 1.0) && shift.iter().all(|&t| t == 0.0);
                let last = self.layers.last_mut();
                let composed = match &last {
                    Some(prev) if is_identity => compose(prev.activation, act),
                    _ => None,
                };
                match (last, composed) {
                    // An activation straight after the layer before (or after
                    // one it composes with: ReLU∘ReLU is ReLU) belongs to it.
                    (Some(prev), Some(c)) => prev.activation = c,
                    (None, _) if is_identity && act == FloatActivation::None => {}
                    // Anything else applies to a layer's output, or to the
                    // input, through a diagonal layer of its own.
                    _ => {
                        if width.checked_mul(width).is_none_or(|s| s > MAX_ELEMENTS) {
                            return Err(format!(
                                "an elementwise step on {width} values would become a \
                                 {width}×{width} layer, over the limit of {MAX_ELEMENTS} elements"
                            ));
                        }
                        let a = (0..width)
                            .map(|i| {
                                let mut row = vec![0.0; width];
                                row[i] = scale[i];
                                row
                            })
                            .collect();
                        self.layers.push(layer(a, shift, act));
                    }
                }
            }
        }
        Ok(())
    }
}

/// One activation doing what `first` then `then` do, when there is one.
fn compose(first: FloatActivation, then: FloatActivation) -> Option<FloatActivation> {
    use FloatActivation::{Clip, None as Id, Relu};
    let clip = |lo: f32, hi: f32| (lo <= hi).then_some(Clip { min: lo, max: hi });
    match (first, then) {
        (a, Id) | (Id, a) => Some(a),
        (a, b) if a == b && a.is_idempotent() => Some(a),
        // clip(relu(x)) = clip(x) with the lower bound raised to 0.
        (Relu, Clip { min, max }) => clip(min.max(0.0), max),
        (Clip { min, max }, Relu) => clip(min.max(0.0), max.max(0.0)),
        (Clip { min: a, max: b }, Clip { min: c, max: d }) => clip(a.max(c), b.min(d)),
        _ => None,
    }
}

fn identity(n: usize) -> Affine {
    Affine::Diag {
        scale: vec![1.0; n],
        shift: vec![0.0; n],
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn layer(a: Vec<Vec<f64>>, c: Vec<f64>, activation: FloatActivation) -> FloatLayer {
    FloatLayer {
        kind: FloatLayerKind::Dense,
        weight: a
            .into_iter()
            .map(|row| row.into_iter().map(|v| v as f32).collect())
            .collect(),
        bias: c.into_iter().map(|v| v as f32).collect(),
        activation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_folds_into_the_first_layer() {
        // y = W·((x − 1)·2) + 3, on x = [2, 4]: (x−1)·2 = [2, 6].
        let mut c = Chain::new(2);
        c.scale_shift(&[2.0, 2.0], &[-2.0, -2.0]).unwrap();
        c.matmul(&[vec![1.0, -1.0]]).unwrap();
        c.scale_shift(&[1.0], &[3.0]).unwrap();
        let layers = c.finish().unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].weight, vec![vec![2.0, -2.0]]);
        assert_eq!(layers[0].bias, vec![3.0]);
    }

    #[test]
    fn a_scale_after_relu_becomes_its_own_layer_only_at_the_end() {
        let mut c = Chain::new(1);
        c.matmul(&[vec![1.0], vec![2.0]]).unwrap();
        c.activate(FloatActivation::Relu).unwrap();
        c.scale_shift(&[0.5, 0.5], &[0.0, 1.0]).unwrap();
        let layers = c.finish().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].activation, FloatActivation::Relu);
        assert_eq!(layers[1].activation, FloatActivation::None);
        assert_eq!(layers[1].weight, vec![vec![0.5, 0.0], vec![0.0, 0.5]]);
        assert_eq!(layers[1].bias, vec![0.0, 1.0]);
    }

    /// A 1-D map of `channels` × 4, a kernel of 3 with one pad each side.
    fn conv_spec(channels: usize, weight: Vec<Vec<f64>>, pad: usize) -> ConvSpec {
        ConvSpec {
            input: Shape {
                channels,
                height: 1,
                width: 4,
            },
            window: Window {
                kernel: [1, 3],
                stride: [1, 1],
                pads: [0, pad, 0, pad],
            },
            groups: 1,
            bias: vec![0.5; weight.len()],
            weight,
        }
    }

    #[test]
    fn a_batch_norm_after_a_convolution_folds_into_its_kernels_and_bias() {
        let mut c = Chain::new(4);
        c.conv(conv_spec(
            1,
            vec![vec![1.0, 2.0, 3.0], vec![-1.0, 0.0, 1.0]],
            1,
        ))
        .unwrap();
        assert_eq!(c.width(), 8);
        // Channel 0 scaled by 2 and shifted by 1; channel 1 left alone.
        let (mul, add) = ([[2.0; 4], [1.0; 4]].concat(), [[1.0; 4], [0.0; 4]].concat());
        c.scale_shift(&mul, &add).unwrap();
        c.activate(FloatActivation::Relu).unwrap();
        let layers = c.finish().unwrap();
        assert_eq!(layers.len(), 1);
        assert!(matches!(
            layers[0].kind,
            FloatLayerKind::Conv { groups: 1, .. }
        ));
        assert_eq!(layers[0].weight, [[2.0, 4.0, 6.0], [-1.0, 0.0, 1.0]]);
        assert_eq!(layers[0].bias, [2.0, 0.5]);
        assert_eq!(layers[0].activation, FloatActivation::Relu);
        assert_eq!(layers[0].units(), 8);
    }

    #[test]
    fn a_scale_per_element_after_a_convolution_is_refused() {
        let mut c = Chain::new(4);
        c.conv(conv_spec(1, vec![vec![1.0, 2.0, 3.0]], 1)).unwrap();
        let e = c.scale_shift(&[1.0, 2.0, 1.0, 1.0], &[0.0; 4]).unwrap_err();
        assert!(e.contains("differs within output channel 0"), "{e}");
    }

    #[test]
    fn input_scaling_folds_into_a_convolution_but_a_shift_only_without_padding() {
        let mut c = Chain::new(4);
        c.affine(0.5, 0.0).unwrap();
        c.conv(conv_spec(1, vec![vec![2.0, 4.0, 6.0]], 1)).unwrap();
        let layers = c.finish().unwrap();
        assert_eq!(layers[0].weight, [[1.0, 2.0, 3.0]]);
        let mut c = Chain::new(4);
        c.affine(1.0, -1.0).unwrap();
        let e = c
            .conv(conv_spec(1, vec![vec![2.0, 4.0, 6.0]], 1))
            .err()
            .unwrap();
        assert!(e.contains("padded convolution"), "{e}");
        let mut c = Chain::new(4);
        c.affine(1.0, -1.0).unwrap();
        c.conv(conv_spec(1, vec![vec![2.0, 4.0, 6.0]], 0)).unwrap();
        let layers = c.finish().unwrap();
        assert_eq!(layers[0].bias, [0.5 - 12.0]);
    }

    #[test]
    fn a_pool_after_a_convolution_takes_its_activation_from_the_graph() {
        let mut c = Chain::new(4);
        c.conv(conv_spec(1, vec![vec![1.0, 1.0, 1.0]], 1)).unwrap();
        let out = c
            .pool(
                Shape {
                    channels: 1,
                    height: 1,
                    width: 4,
                },
                Window {
                    kernel: [1, 2],
                    stride: [1, 2],
                    pads: [0; 4],
                },
                Pool::Max,
            )
            .unwrap();
        assert_eq!(out.width, 2);
        c.activate(FloatActivation::Tanh).unwrap();
        let layers = c.finish().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].activation, FloatActivation::None);
        assert!(matches!(layers[1].kind, FloatLayerKind::MaxPool { .. }));
        assert_eq!(layers[1].activation, FloatActivation::Tanh);
    }

    #[test]
    fn a_graph_without_weights_is_refused() {
        let mut c = Chain::new(3);
        c.scale_shift(&[1.0; 3], &[0.0; 3]).unwrap();
        assert!(c.finish().unwrap_err().contains("no layer with weights"));
    }
}
