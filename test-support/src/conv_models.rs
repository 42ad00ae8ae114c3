//! Random convolutional models: every corner of the window ops for the
//! backends' differential tests.

use zlmc_ir::verify::{infer, verify_model};
use zlmc_ir::{
    Decode, DenseWeights, Elem, Encoder, Graph, Model, NodeId, Op, Shape, WeightKind, Weights,
    Window,
};

use crate::models::{random_activation, random_bias};
use crate::Rng;

/// Largest map a random model holds, in elements: small enough that every
/// target's RAM (an Uno's 2 KB among them) takes two of them.
pub const MAX_MAP: usize = 256;

/// A random raw-input CNN: the input reshaped to a 1-D or 2-D map of odd
/// sizes, 1–3 stages of convolutions (strides 1 and 2, padding, channel
/// groups and depthwise, every weight kind, dense and sparse, 16- and
/// 32-bit accumulators that may wrap) and pools (max and average, padded),
/// per-channel biases (negative and extreme), shifts and activations, then
/// a flatten and 1–2 dense layers.
pub fn random_conv_model(rng: &mut Rng, name: &str) -> Model {
    let one_d = rng.chance(40);
    let shape = if one_d {
        Shape {
            channels: rng.range(1, 3) as usize,
            height: 1,
            width: rng.range(3, 40) as usize,
        }
    } else {
        Shape {
            channels: rng.range(1, 3) as usize,
            height: rng.range(3, 9) as usize,
            width: rng.range(3, 9) as usize,
        }
    };
    let mut b = Builder {
        g: Graph::new(),
        rng,
    };
    let input = b.g.add(
        Op::Input { len: shape.len() },
        zlmc_ir::Type::i16s(shape.len()),
        &[],
    );
    let mut x = b.add(Op::Reshape { shape }, input);
    let stages = b.rng.range(1, 3);
    for s in 0..stages {
        let shape = b.shape(x);
        if s == 0 || b.rng.chance(65) {
            x = b.conv(x, shape);
        } else {
            x = b.pool(x, shape);
        }
    }
    x = b.add(Op::Flatten, x);
    let dense = b.rng.range(1, 2);
    for d in 0..dense {
        x = b.dense(x, d + 1 == dense);
    }
    let classes = b.g.node(x).ty.len().expect("a vector");
    b.g.add(Op::Argmax, zlmc_ir::Type::Index, &[x]);
    let model = Model {
        name: name.to_string(),
        encoders: vec![Encoder::Raw {
            len: shape.len(),
            quant: None,
        }],
        decode: Decode::Classify {
            labels: (0..classes).map(|i| format!("c{i}")).collect(),
        },
        graph: b.g,
    };
    verify_model(&model).expect("a random conv model verifies");
    model
}

/// Adds nodes whose types the verifier's rules infer.
struct Builder<'r> {
    g: Graph,
    rng: &'r mut Rng,
}

impl Builder<'_> {
    /// Add `op` on `x`, typed as the verifier infers.
    fn add(&mut self, op: Op, x: NodeId) -> NodeId {
        let ty = infer(&op, &[self.g.node(x).ty]).expect("random ops are well-typed");
        self.g.add(op, ty, &[x])
    }

    fn shape(&self, x: NodeId) -> Shape {
        self.g.node(x).ty.shape().expect("a map")
    }

    /// A random window that fits `shape` (1-D on 1-D maps).
    fn window(&mut self, shape: Shape) -> Window {
        loop {
            let side = |rng: &mut Rng, size: usize| {
                let k = rng.range(1, 3.min(size as i64)) as usize;
                let s = if rng.chance(35) { 2 } else { 1 };
                let pad = |rng: &mut Rng| {
                    if rng.chance(50) {
                        0
                    } else {
                        rng.range(0, k as i64 - 1) as usize
                    }
                };
                (k, s, pad(rng), pad(rng))
            };
            let (kh, sh, t, bo) = if shape.is_1d() {
                (1, 1, 0, 0)
            } else {
                side(self.rng, shape.height)
            };
            let (kw, sw, l, r) = side(self.rng, shape.width);
            let w = Window {
                kernel: [kh, kw],
                stride: [sh, sw],
                pads: [t, l, bo, r],
            };
            if w.output(shape.height, shape.width).is_ok() {
                return w;
            }
        }
    }

    /// A convolution with its epilogue (fused or as separate steps).
    fn conv(&mut self, x: NodeId, shape: Shape) -> NodeId {
        let window = self.window(shape);
        let (oh, ow) = window.output(shape.height, shape.width).expect("fits");
        let c = shape.channels;
        let (groups, per_group_out) = match self.rng.below(3) {
            0 if c > 1 => (c, self.rng.range(1, 2) as usize),
            _ => (1, 0),
        };
        let most = (MAX_MAP / (oh * ow)).clamp(1, 6);
        let out = if groups > 1 {
            (c * per_group_out).min(most / c * c).max(c)
        } else {
            self.rng.range(1, most as i64) as usize
        };
        let cols = c / groups * window.area();
        let kind = self.rng.pick(&WeightKind::ALL);
        let weights = self.weights(kind, out, cols);
        let acc = if self.rng.chance(40) {
            Elem::I32
        } else {
            Elem::I16
        };
        let conv = self.add(
            Op::Conv {
                window,
                groups,
                weights,
                acc,
            },
            x,
        );
        self.epilogue(conv, acc, out)
    }

    /// Bias, shift and maybe an activation: one epilogue, or separate ops.
    fn epilogue(&mut self, x: NodeId, acc: Elem, per: usize) -> NodeId {
        let bias: Vec<i64> = (0..per).map(|_| random_bias(self.rng, acc)).collect();
        let shift = match self.rng.below(3) {
            0 => 0,
            1 => 2,
            _ => self.rng.range(0, acc.bits() as i64 - 1) as u32,
        };
        let activation = self.rng.chance(70).then(|| random_activation(self.rng));
        if self.rng.chance(70) {
            return self.add(
                Op::Epilogue {
                    bias,
                    shift,
                    activation,
                },
                x,
            );
        }
        let b = self.add(Op::Bias { values: bias }, x);
        let s = self.add(Op::Shift { amount: shift }, b);
        match activation {
            Some(a) => self.add(Op::Activate(a), s),
            None => s,
        }
    }

    /// A max or average pool, sometimes followed by an activation.
    fn pool(&mut self, x: NodeId, shape: Shape) -> NodeId {
        let window = self.window(shape);
        let op = if self.rng.chance(50) {
            Op::MaxPool { window }
        } else {
            Op::AvgPool {
                window,
                mul: self.rng.range(1, 255) as u8,
                shift: self.rng.range(0, 12) as u32,
            }
        };
        let p = self.add(op, x);
        if self.rng.chance(20) {
            let a = random_activation(self.rng);
            self.add(Op::Activate(a), p)
        } else {
            p
        }
    }

    /// A dense layer with its epilogue.
    fn dense(&mut self, x: NodeId, last: bool) -> NodeId {
        let inputs = self.g.node(x).ty.len().expect("a vector");
        let units = self.rng.range(1, 12) as usize;
        let kind = self.rng.pick(&WeightKind::ALL);
        let weights = self.weights(kind, units, inputs);
        let acc = if self.rng.chance(40) {
            Elem::I32
        } else {
            Elem::I16
        };
        let m = self.add(Op::MatMul { weights, acc }, x);
        let bias = (0..units).map(|_| random_bias(self.rng, acc)).collect();
        let shift = self.rng.range(0, 6) as u32;
        let activation = (!last && self.rng.chance(60)).then(|| random_activation(self.rng));
        self.add(
            Op::Epilogue {
                bias,
                shift,
                activation,
            },
            m,
        )
    }

    /// `rows × cols` weights of `kind`, some rows and entries zero, dense or sparse.
    fn weights(&mut self, kind: WeightKind, rows: usize, cols: usize) -> Weights {
        let values = kind.values();
        let zero_pct = self.rng.pick(&[0, 30, 75]);
        let binary = kind == WeightKind::Binary;
        let data = (0..rows * cols)
            .map(|_| {
                if !binary && self.rng.chance(zero_pct) {
                    0
                } else {
                    self.rng.pick(&values)
                }
            })
            .collect();
        let d = DenseWeights {
            kind,
            rows,
            cols,
            data,
        };
        if !binary && self.rng.chance(40) {
            Weights::Sparse(d.to_sparse())
        } else {
            Weights::Dense(d)
        }
    }
}
