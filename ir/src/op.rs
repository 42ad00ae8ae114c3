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
    /// `max(0, x)` on i16.
    Relu,
    /// Fused bias + shift + optional ReLU: one pass, one result per neuron.
    Epilogue {
        bias: Vec<i64>,
        shift: u32,
        relu: bool,
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
            Op::Relu => "relu",
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
            Op::Bias { .. } | Op::Shift { .. } | Op::Relu | Op::Epilogue { .. }
        )
    }
}

/// Arithmetic shift right of `v` (rounds toward −∞), wrapped to i16.
pub fn shift_to_i16(v: i64, amount: u32) -> i64 {
    Elem::I16.wrap(v >> amount)
}
