//! The operations of the graph IR.

use crate::tensor::Weights;
use crate::types::Elem;

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

/// A sliding window over a map: kernel, stride and zero padding, each as
/// (height, width); `pads` = [top, left, bottom, right]. On 1-D maps the
/// height parts are kernel 1, stride 1, pads 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// Kernel (height, width).
    pub kernel: [usize; 2],
    /// Stride (height, width).
    pub stride: [usize; 2],
    /// Zero padding: top, left, bottom, right.
    pub pads: [usize; 4],
}

impl Window {
    /// Output (height, width) over an input of `h`×`w`, or why the window does not fit:
    /// out = (in + pad_before + pad_after − kernel) / stride + 1, must be ≥ 1;
    /// every pad < its kernel size (every window holds at least one real element).
    pub fn output(&self, h: usize, w: usize) -> Result<(usize, usize), String> {
        let axis = |name: &str, n: usize, k: usize, s: usize, before: usize, after: usize| {
            if k == 0 || s == 0 {
                return Err(format!(
                    "{name} kernel {k} and stride {s} must be at least 1"
                ));
            }
            if before >= k || after >= k {
                return Err(format!(
                    "{name} padding {before}, {after} must be smaller than the kernel {k}"
                ));
            }
            let span = n + before + after;
            if span < k {
                return Err(format!(
                    "{name} kernel {k} is larger than the padded input {span}"
                ));
            }
            Ok((span - k) / s + 1)
        };
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [top, left, bottom, right] = self.pads;
        Ok((
            axis("height", h, kh, sh, top, bottom)?,
            axis("width", w, kw, sw, left, right)?,
        ))
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
