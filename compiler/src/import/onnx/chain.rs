//! The dense layers found so far plus the affine map applied since the last
//! activation: how constant arithmetic is folded into layers exactly.
//!
//! Every linear op of the source graph (MatMul, Gemm, Add/Sub/Mul/Div by a
//! constant, Scaler, BatchNormalization) composes into the pending affine map
//! in f64; an activation or the end of the graph turns the pending map into
//! one `FloatLayer`. So input
//! normalization before the first MatMul becomes `w' = w·s`, `b' = b + w·t`,
//! and a bias `Add` after a MatMul becomes that layer's bias.

/// The most weights a layer the chain builds may have: the IR's limit, so a
/// small file cannot make the importer allocate more than a model can hold.
const MAX_ELEMENTS: usize = zlmc_ir::verify::limits::MAX_WEIGHTS;
use crate::quant::float_model::{FloatActivation, FloatLayer, FloatLayerKind};

/// The affine map `y = A·x + c` from the last layer's output (or the graph
/// input) to the current value.
#[derive(Debug, Clone, PartialEq)]
enum Affine {
    /// `A` is diagonal: `y[i] = scale[i]·x[i] + shift[i]` (no matrix allocated,
    /// so a huge declared input costs nothing until a weight needs it).
    Diag { scale: Vec<f64>, shift: Vec<f64> },
    /// `A` is dense, `[outputs][inputs]`.
    Dense { a: Vec<Vec<f64>>, c: Vec<f64> },
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
        }
    }

    /// `y[i] = x[i]·mul[i] + add[i]` (both of length `width()`).
    pub fn scale_shift(&mut self, mul: &[f64], add: &[f64]) {
        match &mut self.pending {
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
    }

    /// `y = W·x` for `W` as `[outputs][width()]`; errors if the composed map is too big.
    pub fn matmul(&mut self, w: &[Vec<f64>]) -> Result<(), String> {
        let n = w.len();
        self.pending = match &self.pending {
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
    pub fn affine(&mut self, mul: f64, add: f64) {
        let n = self.width();
        self.scale_shift(&vec![mul; n], &vec![add; n]);
    }

    /// End the pending map with an activation.
    pub fn activate(&mut self, act: FloatActivation) -> Result<(), String> {
        self.close(act)
    }

    /// End the chain: the pending map becomes the last layer (without ReLU) if
    /// it does anything. Errors if the graph had no layer at all.
    pub fn finish(mut self) -> Result<Vec<FloatLayer>, String> {
        self.close(FloatActivation::None)?;
        if self.layers.is_empty() {
            return Err("the graph has no dense layer (MatMul or Gemm)".into());
        }
        Ok(self.layers)
    }

    /// Turn the pending map into a layer (or fold it into the previous one).
    fn close(&mut self, act: FloatActivation) -> Result<(), String> {
        let width = self.width();
        let pending = std::mem::replace(&mut self.pending, identity(width));
        match pending {
            Affine::Dense { a, c } => self.layers.push(layer(a, c, act)),
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
        c.scale_shift(&[2.0, 2.0], &[-2.0, -2.0]);
        c.matmul(&[vec![1.0, -1.0]]).unwrap();
        c.scale_shift(&[1.0], &[3.0]);
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
        c.scale_shift(&[0.5, 0.5], &[0.0, 1.0]);
        let layers = c.finish().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].activation, FloatActivation::Relu);
        assert_eq!(layers[1].activation, FloatActivation::None);
        assert_eq!(layers[1].weight, vec![vec![0.5, 0.0], vec![0.0, 0.5]]);
        assert_eq!(layers[1].bias, vec![0.0, 1.0]);
    }

    #[test]
    fn a_graph_without_weights_is_refused() {
        let mut c = Chain::new(3);
        c.scale_shift(&[1.0; 3], &[0.0; 3]);
        assert!(c.finish().unwrap_err().contains("no dense layer"));
    }
}
