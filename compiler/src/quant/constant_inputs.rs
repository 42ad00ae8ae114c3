//! Inputs that do not vary over the calibration data are constants: their
//! contribution `W[:, j]·c_j` goes into the first layer's bias and their weight
//! column becomes zero, before quantizing.
//!
//! Why: a normalization folded into the first layer divides each feature by
//! its spread in the training data, and Keras' `Normalization` divides a pixel
//! that never varies by `sqrt(0 + 1e-7)`, giving it weights of ~5·10⁶. One
//! weight scale per layer cannot hold those and the ordinary weights of ~1
//! together: int8 rounds every ordinary weight to 0 (26.7 % against 95.2 %
//! float on digits). On the calibration data the folded model computes the
//! same outputs, up to float rounding of the bias.
//!
//! "Constant" means a calibrated spread (`max − min`) of at most
//! [`SPREAD`] times the largest feature magnitude: below what f32 data (24-bit
//! mantissas) or numbers printed with 7 significant digits can tell apart, and
//! far below one step of any input quantization, so no feature that varies in
//! a way the integer model could see is folded. The integer model then
//! ignores those inputs: one that does vary later (a pixel always 0 in the
//! calibration data) counts as its calibrated value.

use super::dataset::Dataset;
use super::float_model::FloatMlp;

/// Largest spread, relative to the largest feature magnitude, of an input taken as constant.
pub const SPREAD: f64 = 1e-6;

/// An input that is constant over the calibration data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConstantInput {
    /// The feature's index.
    pub index: usize,
    /// Its value: the middle of its calibrated range (a NaN sample, which
    /// min and max skip, cannot make it NaN as a mean would).
    pub value: f64,
}

/// The inputs of `data` whose spread is at most [`SPREAD`] times the largest
/// feature magnitude.
pub fn find(data: &Dataset) -> Vec<ConstantInput> {
    let Some(width) = data.x.first().map(Vec::len) else {
        return Vec::new();
    };
    let mut lo = vec![f64::INFINITY; width];
    let mut hi = vec![f64::NEG_INFINITY; width];
    for x in &data.x {
        for (j, &v) in x.iter().enumerate().take(width) {
            let v = f64::from(v);
            lo[j] = lo[j].min(v);
            hi[j] = hi[j].max(v);
        }
    }
    let top = lo
        .iter()
        .chain(&hi)
        .map(|v| v.abs())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    (0..width)
        .filter(|&j| lo[j].is_finite() && hi[j] - lo[j] <= SPREAD * top)
        .map(|j| ConstantInput {
            index: j,
            value: (lo[j] + hi[j]) / 2.0,
        })
        .collect()
}

/// `m` with each constant input's contribution in the first layer's bias
/// (summed in f64) and its weight column zero.
pub fn fold(m: &FloatMlp, constants: &[ConstantInput]) -> FloatMlp {
    let mut m = m.clone();
    let Some(first) = m.layers.first_mut() else {
        return m;
    };
    for (row, b) in first.weight.iter_mut().zip(first.bias.iter_mut()) {
        let mut bias = f64::from(*b);
        for c in constants {
            if let Some(w) = row.get_mut(c.index) {
                bias += f64::from(*w) * c.value;
                *w = 0.0;
            }
        }
        *b = bias as f32;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::float_model::{FloatActivation, FloatLayer, FloatLayerKind, FloatOutput};

    fn data(rows: &[[f32; 3]]) -> Dataset {
        Dataset {
            x: rows.iter().map(|r| r.to_vec()).collect(),
            y: Vec::new(),
        }
    }

    #[test]
    fn constant_means_no_spread_next_to_the_largest_feature() {
        let d = data(&[[0.0, 2.5, 16.0], [0.0, 2.5 + 1e-6, 3.0], [0.0, 2.5, 0.0]]);
        assert_eq!(
            find(&d),
            vec![
                ConstantInput {
                    index: 0,
                    value: 0.0
                },
                ConstantInput {
                    index: 1,
                    value: (2.5 + f64::from(2.5f32 + 1e-6)) / 2.0
                }
            ]
        );
        // A spread of 1e-4 next to 16 is a feature, not float noise; NaN is skipped.
        let d = data(&[[0.0, 2.5, 16.0], [f32::NAN, 2.5001, 3.0]]);
        assert_eq!(
            find(&d),
            vec![ConstantInput {
                index: 0,
                value: 0.0
            }]
        );
    }

    #[test]
    fn folding_moves_the_constants_into_the_bias() {
        let m = FloatMlp {
            name: "m".into(),
            inputs: 3,
            layers: vec![FloatLayer {
                kind: FloatLayerKind::Dense,
                weight: vec![vec![5e6, 1.0, 2.0], vec![-3.0, 0.5, 4.0]],
                bias: vec![0.25, -1.0],
                activation: FloatActivation::Relu,
            }],
            labels: None,
            output: FloatOutput::Classes,
        };
        let c = [ConstantInput {
            index: 0,
            value: 2.0,
        }];
        let f = fold(&m, &c);
        assert_eq!(
            f.layers[0].weight,
            vec![vec![0.0, 1.0, 2.0], vec![0.0, 0.5, 4.0]]
        );
        assert_eq!(f.layers[0].bias, vec![1e7 + 0.25, -7.0]);
        for x in [[2.0, 1.0, -1.0], [2.0, 0.0, 3.0]] {
            assert_eq!(f.eval(&x), m.eval(&x));
        }
    }
}
