//! The operations of the graph IR.

use crate::tensor::Weights;
use crate::types::{Elem, Shape};

/// One operation. Its operands are the node's incoming edges, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// The step's input vector: `len` int16 values. No operands.
    Input { len: usize },
    /// `acc[i] = Σ_j W[i][j]·x[j]` wrapped to `acc`. One i16 operand.
    MatMul { weights: Weights, acc: Elem },
    /// `y[i] = x[i] + values[i]` wrapped to the operand's element type.
    Bias { values: Vec<i64> },
    /// Arithmetic shift right by `amount`, then wrapped to i16.
    Shift { amount: u32 },
    /// A non-linearity on i16 (`relu` among them).
    Activate(Activation),
    /// Fused bias + shift + optional activation: one pass, one result per neuron.
    Epilogue {
        bias: Vec<i64>,
        shift: u32,
        activation: Option<Activation>,
    },
    /// Index of the first maximum of an i16 vector.
    Argmax,
    /// View an i16 vector (or map) of `shape.len()` elements as a map: no
    /// data moves.
    Reshape { shape: Shape },
    /// View a map as a vector of the same elements: no data moves.
    Flatten,
    /// Convolution of an i16 map, wrapped to `acc`: output channel `o` (of
    /// group `o / (rows/groups)`) at `(oy, ox)` sums
    /// `W[o][(ci·kh + ky)·kw + kx] · in[g·C/groups + ci, oy·sh + ky − top, ox·sw + kx − left]`,
    /// reading 0 outside the input.
    Conv {
        /// Kernel, stride, padding.
        window: Window,
        /// Channel groups (`groups = C` is depthwise).
        groups: usize,
        /// `[out channels × (C/groups)·kh·kw]`.
        weights: Weights,
        /// Accumulator width.
        acc: Elem,
    },
    /// Largest in-bounds element of every window of an i16 map (padding never wins).
    MaxPool { window: Window },
    /// `(Σ in-bounds elements of the window) · mul >> shift`, wrapped to i16:
    /// an average when `mul / 2^shift` is the reciprocal of the count.
    AvgPool {
        /// Kernel, stride, padding.
        window: Window,
        /// Multiplier, 1 to 255.
        mul: u8,
        /// Arithmetic shift right after the product (rounds toward −∞), below 32.
        shift: u32,
    },
}

/// A sliding window over a map: kernel, stride and zero padding, each as
/// (height, width). On 1-D maps the height parts are kernel 1, stride 1, no padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// Kernel `[height, width]`.
    pub kernel: [usize; 2],
    /// Stride `[height, width]`.
    pub stride: [usize; 2],
    /// Zero padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

impl Window {
    /// The output map's `(height, width)` over an input of `height × width`,
    /// or why the window does not fit it.
    pub fn output(&self, height: usize, width: usize) -> Result<(usize, usize), String> {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [top, left, bottom, right] = self.pads;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err("kernel and stride must be at least 1".into());
        }
        // Every window then holds at least one real element.
        if top >= kh || bottom >= kh || left >= kw || right >= kw {
            return Err(format!(
                "padding {:?} must be smaller than the kernel {:?}",
                self.pads, self.kernel
            ));
        }
        let (h, w) = (height + top + bottom, width + left + right);
        if h < kh || w < kw {
            return Err(format!(
                "kernel {kh}x{kw} is larger than the padded input {h}x{w}"
            ));
        }
        Ok(((h - kh) / sh + 1, (w - kw) / sw + 1))
    }

    /// The output map over an `input` map with `channels` output channels, or
    /// why the window does not fit it.
    pub fn map_over(&self, input: Shape, channels: usize) -> Result<Shape, String> {
        let (height, width) = self.output(input.height, input.width)?;
        Ok(Shape {
            channels,
            height,
            width,
        })
    }

    /// Whether it is written 1-D (`kernel [k]`): height 1, stride 1, no padding above or below.
    pub fn is_1d(&self) -> bool {
        self.kernel[0] == 1 && self.stride[0] == 1 && self.pads[0] == 0 && self.pads[2] == 0
    }

    /// For every output position (row-major), the in-plane input index
    /// `y·width + x` of each kernel tap (row-major), `None` where the tap
    /// reads padding. The window must fit `shape` (a verified op's does).
    pub fn taps(&self, shape: Shape) -> Vec<Vec<Option<usize>>> {
        let (oh, ow) = self.output(shape.height, shape.width).unwrap_or((0, 0));
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [top, left, ..] = self.pads;
        let mut out = Vec::with_capacity(oh * ow);
        for oy in 0..oh {
            for ox in 0..ow {
                let mut taps = Vec::with_capacity(kh * kw);
                for ky in 0..kh {
                    for kx in 0..kw {
                        let y = (oy * sh + ky)
                            .checked_sub(top)
                            .filter(|&y| y < shape.height);
                        let x = (ox * sw + kx)
                            .checked_sub(left)
                            .filter(|&x| x < shape.width);
                        taps.push(y.zip(x).map(|(y, x)| y * shape.width + x));
                    }
                }
                out.push(taps);
            }
        }
        out
    }

    /// Kernel elements.
    pub fn area(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }
}

impl Op {
    /// The mnemonic used in the text form.
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::MatMul { .. } => "matmul",
            Op::Bias { .. } => "bias",
            Op::Shift { .. } => "shift",
            Op::Activate(a) => a.mnemonic(),
            Op::Epilogue { .. } => "epilogue",
            Op::Argmax => "argmax",
            Op::Reshape { .. } => "reshape",
            Op::Flatten => "flatten",
            Op::Conv { .. } => "conv",
            Op::MaxPool { .. } => "maxpool",
            Op::AvgPool { .. } => "avgpool",
        }
    }

    /// Number of operands the op takes.
    pub fn arity(&self) -> usize {
        match self {
            Op::Input { .. } => 0,
            _ => 1,
        }
    }

    /// Whether the op acts on each element independently (bias, shift, ReLU, epilogue).
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            Op::Bias { .. } | Op::Shift { .. } | Op::Activate(_) | Op::Epilogue { .. }
        )
    }
}

/// A non-linearity on i16 values: what follows a layer's shift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// `min(max(x, lo), hi)`, `lo ≤ hi`: ReLU6, Clip, HardTanh.
    Clamp {
        /// Lower bound.
        lo: i16,
        /// Upper bound.
        hi: i16,
    },
    /// `x` when `x ≥ 0`, else `(x·mul) >> shift` (rounding toward −∞), with
    /// `1 ≤ shift ≤ 15`, `1 ≤ mul < 2^shift`: the slope `mul / 2^shift`.
    LeakyRelu {
        /// Numerator of the negative slope.
        mul: u8,
        /// Log2 of its denominator.
        shift: u8,
    },
    /// `table[clamp(x − lo, 0, len − 1)]`, 2 ≤ len ≤ 256: what smooth
    /// functions (tanh, sigmoid, GELU, hard swish) become.
    Lut {
        /// The input the first entry stands for.
        lo: i16,
        /// Outputs for inputs `lo, lo + 1, …`; the ends hold beyond them.
        table: Vec<i16>,
    },
}

/// Largest lookup table an activation may hold.
pub const MAX_LUT: usize = 256;

impl Activation {
    /// The activation of `x`: the reference semantics every backend follows.
    pub fn apply(&self, x: i16) -> i16 {
        match self {
            Activation::Relu => x.max(0),
            Activation::Clamp { lo, hi } => x.clamp(*lo, *hi),
            Activation::LeakyRelu { mul, shift } => {
                if x >= 0 {
                    x
                } else {
                    ((x as i32 * *mul as i32) >> shift) as i16
                }
            }
            Activation::Lut { lo, table } => {
                let i = (x as i32 - *lo as i32).clamp(0, table.len() as i32 - 1);
                table[i as usize]
            }
        }
    }

    /// Whether it makes every negative value 0 (ReLU, a clamp from 0): the
    /// backends' epilogues skip or zero negative outputs at once for these.
    pub fn zeroes_negatives(&self) -> bool {
        matches!(self, Activation::Relu | Activation::Clamp { lo: 0, .. })
    }

    /// The mnemonic of its text form.
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Clamp { .. } => "clamp",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Lut { .. } => "lut",
        }
    }

    /// Why its parameters are out of bounds, if they are.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Activation::Relu => Ok(()),
            Activation::Clamp { lo, hi } if lo > hi => Err(format!("clamp bounds {lo} > {hi}")),
            Activation::Clamp { .. } => Ok(()),
            Activation::LeakyRelu { mul, shift } => {
                if !(1..=15).contains(shift) || *mul == 0 || u32::from(*mul) >= 1 << shift {
                    Err(format!(
                        "leaky_relu needs 1 <= shift <= 15 and 1 <= mul < 2^shift, has mul {mul}, shift {shift}"
                    ))
                } else {
                    Ok(())
                }
            }
            Activation::Lut { table, .. } => {
                if (2..=MAX_LUT).contains(&table.len()) {
                    Ok(())
                } else {
                    Err(format!(
                        "lut needs 2 to {MAX_LUT} entries, has {}",
                        table.len()
                    ))
                }
            }
        }
    }

    /// The smallest and largest value it can give for inputs in `lo..=hi`.
    pub fn bounds(&self, lo: i16, hi: i16) -> (i16, i16) {
        match self {
            // Monotone: the ends are the extremes.
            Activation::Relu | Activation::Clamp { .. } | Activation::LeakyRelu { .. } => {
                (self.apply(lo), self.apply(hi))
            }
            Activation::Lut { lo: base, table } => {
                let at =
                    |x: i16| (x as i32 - *base as i32).clamp(0, table.len() as i32 - 1) as usize;
                let s = &table[at(lo)..=at(hi)];
                (
                    *s.iter().min().expect("non-empty"),
                    *s.iter().max().expect("non-empty"),
                )
            }
        }
    }
}

/// Arithmetic shift right of `v` (rounds toward −∞), wrapped to i16.
pub fn shift_to_i16(v: i64, amount: u32) -> i64 {
    Elem::I16.wrap(v >> amount)
}
