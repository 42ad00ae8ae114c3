//! A float MLP as importers produce it and quantizers consume it: the meeting
//! point of `zlmc import onnx` (which writes one) and `zlmc quantize` (which
//! turns one into an integer model).

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

/// One dense layer: `y = act(W·x + b)` in f32.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatLayer {
    /// Weights, `[units][inputs]` (row per output unit, PyTorch's order).
    pub weight: Vec<Vec<f32>>,
    /// Bias per output unit.
    pub bias: Vec<f32>,
    /// The non-linearity after the sum.
    pub activation: FloatActivation,
}

impl FloatLayer {
    /// Number of outputs.
    pub fn units(&self) -> usize {
        self.bias.len()
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.weight.first().map_or(0, Vec::len)
    }

    /// The layer's outputs for `x`, in f32.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        self.weight
            .iter()
            .zip(&self.bias)
            .map(|(row, &b)| {
                let s = row.iter().zip(x).fold(b, |acc, (&w, &v)| acc + w * v);
                self.activation.apply(s)
            })
            .collect()
    }
}

/// A chain of dense layers over a raw float feature vector.
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
