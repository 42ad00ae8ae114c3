//! A float MLP as importers produce it and quantizers consume it: the meeting
//! point of `zlmc import onnx` (which writes one) and `zlmc quantize` (which
//! turns one into an integer model).

/// One dense layer: `y = act(W·x + b)` in f32.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatLayer {
    /// Weights, `[units][inputs]` (row per output unit, PyTorch's order).
    pub weight: Vec<Vec<f32>>,
    /// Bias per output unit.
    pub bias: Vec<f32>,
    /// Whether ReLU follows.
    pub relu: bool,
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
                if self.relu {
                    s.max(0.0)
                } else {
                    s
                }
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
